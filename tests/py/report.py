"""The Python tests' reporting: one line per check, "ok NAME", "not ok NAME: why" (counted in
`failures`), which tests/run.sh counts like the C tests' lines."""
failures = 0


def ok(name):
    print(f"ok {name}")


def notok(name, why):
    global failures
    failures += 1
    print(f"not ok {name}: {why}")


def check(name, cond, why=""):
    ok(name) if cond else notok(name, why or "condition false")
