#!/usr/bin/env bash
# Transfer learning from the command line: cnntrain --arch resnet18/efficientnet_b0 with --pretrained
# (a torchvision state_dict as .pth and as .safetensors, made by Debian's torchvision when present),
# --in-chans repeat, --freeze backbone (the backbone's bytes do not move), --unfreeze-at, --lr-backbone,
# --init from our own checkpoint with other classes, cnneval on the checkpoints, the checkpoint loading
# into torchvision with strict=True, and the errors (a .pth of another architecture names its keys, a
# hostile .pth, bad option values). Data: 3 classes x 8 tones, 32 mel bands x 32 frames (lib.sh).
. "$(dirname "$0")/lib.sh"
cd "$W" || exit 1
B=$BIN
command -v sox >/dev/null || { skip "transfer tests: sox is needed to make test audio"; exit 0; }
make_tone_splits 2>data.err || { notok "making the test data: $(head -c 300 data.err)"; exit 0; }
T=(-q --threads 1 --train train.npy --val val.npy --classes split/classes.tsv --epochs 2 --batch 6)

# same.py A B EXCLUDE_RE: every tensor of A whose name does not match EXCLUDE_RE has the same bytes in B
cat > same.py <<'EOF'
import re, sys
from safetensors.numpy import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
names = [k for k in a if not re.search(sys.argv[3], k)]
bad = [k for k in names if k not in b or a[k].tobytes() != b[k].tobytes()]
sys.exit(1 if bad or not names else 0)
EOF

# pred.py CKPT ARCH X PREDICTIONS [IN_NORM]: our checkpoint loads into torchvision's ARCH with strict=True
# and, fed X repeated to three channels (normalised with ImageNet's statistics when its metadata says
# in_norm=imagenet), predicts what cnneval wrote; with IN_NORM, the metadata must record that in_norm
cat > pred.py <<'EOF'
import sys, numpy as np, torch, torchvision
from safetensors import safe_open
from safetensors.torch import load_file
ckpt, arch, xpath, preds = sys.argv[1:5]
meta = safe_open(ckpt, "pt").metadata()
if len(sys.argv) > 5:
    assert meta.get("in_norm") == sys.argv[5] and meta["in_chans"] == "repeat", meta
sd = load_file(ckpt)
k = sd["fc.weight" if arch.startswith("resnet") else "classifier.1.weight"].shape[0]
m = getattr(torchvision.models, arch)(weights=None, num_classes=k)
m.load_state_dict(sd, strict=True)
m.eval()
x = torch.from_numpy(np.load(xpath)).repeat(1, 3, 1, 1)
if meta.get("in_norm") == "imagenet":
    x = torchvision.transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])(x)
with torch.no_grad():
    pred = m(x).argmax(1).numpy()
rows = [l.rstrip("\n").split("\t") for l in open(preds)]
col = rows[0].index("predicted")
names = [l.split("\t")[1].strip() for l in open("split/classes.tsv")][1:]
ours = [names.index(r[col]) if r[col] in names else int(r[col]) for r in rows[1:]]
sys.exit(0 if list(pred) == ours else 1)
EOF

for arch in resnet18 efficientnet_b0; do
    check "$arch trains from scratch (native one-channel stem) and cnneval reads it" \
        bash -c "$B/cnntrain ${T[*]} --arch $arch -o $arch.safetensors && $B/cnneval -q $arch.safetensors test.npy -o ev-$arch && test -s ev-$arch/metrics.json"
done

HAVE_TV=0
if [ -n "${PY:-}" ] && "$PY" -c "import torch, torchvision, safetensors" 2>/dev/null; then HAVE_TV=1; fi
if [ $HAVE_TV = 1 ]; then
    # torchvision's ImageNet-shaped weights (1000 classes), random but seeded, as .pth and .safetensors
    "$PY" - <<'EOF'
import torch, torchvision
from safetensors.torch import save_file
for arch in ("resnet18", "efficientnet_b0"):
    torch.manual_seed(0)
    m = getattr(torchvision.models, arch)(weights=None)
    torch.save(m.state_dict(), f"{arch}-tv.pth")
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, f"{arch}-tv.safetensors")
EOF
    for arch in resnet18 efficientnet_b0; do
        head=fc.; [ $arch = efficientnet_b0 ] && head=classifier.
        check "$arch --pretrained .pth: trains (3-channel stem fed by repetition, the default)" \
            $B/cnntrain "${T[@]}" --arch $arch --pretrained $arch-tv.pth -o p-$arch.safetensors
        check "$arch --pretrained .safetensors gives the same bytes as .pth" \
            bash -c "$B/cnntrain ${T[*]} --arch $arch --pretrained $arch-tv.safetensors -o ps-$arch.safetensors && cmp p-$arch.safetensors ps-$arch.safetensors"
        check "$arch --freeze backbone: the backbone keeps torchvision's bytes, BN statistics included" \
            bash -c "$B/cnntrain ${T[*]} --arch $arch --pretrained $arch-tv.pth --freeze backbone -o f-$arch.safetensors && $PY same.py $arch-tv.safetensors f-$arch.safetensors '^$head'"
        check "$arch --freeze backbone --unfreeze-at 2: the backbone moves in epoch 2" \
            bash -c "$B/cnntrain ${T[*]} --arch $arch --pretrained $arch-tv.pth --freeze backbone --unfreeze-at 2 -o u-$arch.safetensors --state u-$arch.state.safetensors && ! $PY same.py $arch-tv.safetensors u-$arch.state.safetensors '^$head|running_|num_batches'"
        check "$arch --lr-backbone 0 --wd 0: only the head and BN statistics move" \
            bash -c "$B/cnntrain ${T[*]} --arch $arch --pretrained $arch-tv.pth --lr-backbone 0 --wd 0 -o l-$arch.safetensors && $PY same.py $arch-tv.safetensors l-$arch.safetensors '^$head|running_|num_batches' && ! $PY same.py $arch-tv.safetensors l-$arch.safetensors '^$head'"
        check "$arch: in_chans=repeat recorded; cnneval builds the same network" \
            bash -c "$B/cnneval -q p-$arch.safetensors test.npy -o ev-p-$arch && grep -q '\"accuracy\"' ev-p-$arch/metrics.json"
        check "$arch: our checkpoint loads into torchvision with strict=True, same predictions as cnneval" \
            "$PY" pred.py p-$arch.safetensors $arch test.npy ev-p-$arch/predictions.tsv
    done
    # --in-norm imagenet: recorded, and our checkpoint in torchvision behind Normalize predicts as cnneval does
    check "resnet18 --in-norm imagenet: in_norm=imagenet recorded; same predictions in torchvision behind Normalize" \
        bash -c "$B/cnntrain ${T[*]} --arch resnet18 --pretrained resnet18-tv.pth --in-norm imagenet -o n.safetensors && $B/cnneval -q n.safetensors test.npy -o ev-n && $PY pred.py n.safetensors resnet18 test.npy ev-n/predictions.tsv imagenet"
    check "--init from an --in-norm imagenet checkpoint: in_chans and in_norm taken from it by default" \
        bash -c "$B/cnntrain ${T[*]} --arch resnet18 --init n.safetensors -o ni.safetensors && $PY -c \"from safetensors import safe_open; m = safe_open('ni.safetensors', 'np').metadata(); assert m['in_chans'] == 'repeat' and m['in_norm'] == 'imagenet', m\""
    expect_error "--pretrained of another architecture names the keys" "resnet18-tv.pth: does not match the model: .*missing" 1 \
        $B/cnntrain "${T[@]}" --arch efficientnet_b0 --pretrained resnet18-tv.pth -o x.safetensors
    no_partial "no checkpoint after a --pretrained error" x.safetensors
    expect_error "--pretrained with --in-chans native: the stem's shape is named" "conv1.weight" 1 \
        $B/cnntrain "${T[@]}" --arch resnet18 --in-chans native --pretrained resnet18-tv.pth -o x.safetensors
else
    skip "--pretrained tests: torch/torchvision/safetensors not available"
fi

# --init: pretrain on 3 classes, fine-tune on 2 (the head is replaced, the backbone kept)
check "--init from a checkpoint of other classes: the head is replaced" \
    bash -c "$B/cnntrain ${T[*]} --arch resnet18 --init resnet18.safetensors --freeze backbone -o init.safetensors"
# --init into 4 classes from 3-class checkpoints: the whole head (the baseline's classifier.0 and
# classifier.3, ResNet's fc) starts as a from-scratch run's with the same seed, the backbone as the
# checkpoint's (frozen, and --lr 1e-12 keeps the head at its initial values to 1e-9; the baseline's
# frozen BN layers still update their running statistics, MOVES)
cat > head.py <<'EOF'
import re, sys, numpy as np
from safetensors.numpy import load_file
got, scratch, init, head = load_file(sys.argv[1]), load_file(sys.argv[2]), load_file(sys.argv[3]), sys.argv[4]
moves = sys.argv[5] if len(sys.argv) > 5 else "^$"
heads = [k for k in got if re.match(head, k)]
assert heads and sorted(got) == sorted(scratch), heads
for k in got:
    if re.match(head, k):  # new: as initialised, not the checkpoint's
        assert np.allclose(got[k], scratch[k], rtol=0, atol=1e-9), k
        assert k not in init or init[k].shape != got[k].shape or not np.allclose(got[k], init[k], atol=1e-4), k
    elif not re.search(moves, k):
        assert got[k].tobytes() == init[k].tobytes(), k
EOF
if [ -n "${PY:-}" ] && "$PY" -c "import numpy, safetensors" 2>/dev/null; then
    printf 'index\tname\n0\tcat\n1\tdog\n2\towl\n3\tyak\n' > four.tsv
    $B/cnntrain "${T[@]}" -o baseline.safetensors 2>/dev/null
    F=(-q --threads 1 --train train.npy --classes four.tsv --epochs 1 --batch 6 --no-class-weights --freeze backbone --lr 1e-12 --wd 0)
    for arch in baseline resnet18; do
        head='classifier\.' moves='^$'; [ $arch = resnet18 ] && head='fc\.'
        check "$arch --init from 3 classes into 4: the whole head is new ($head), the backbone the checkpoint's" \
            bash -c "$B/cnntrain ${F[*]} --arch $arch --init $arch.safetensors -o h-$arch.safetensors && $B/cnntrain ${F[*]} --arch $arch -o s-$arch.safetensors && $PY head.py h-$arch.safetensors s-$arch.safetensors $arch.safetensors '$head' '$moves'"
    done
else
    skip "--init head tests: numpy/safetensors not available"
fi
expect_error "--pretrained and --init together" "choose one" 2 \
    $B/cnntrain "${T[@]}" --arch resnet18 --init resnet18.safetensors --pretrained resnet18.safetensors -o x.safetensors
expect_error "--in-chans of an unknown kind" "bad value for --in-chans: 2" 2 \
    $B/cnntrain "${T[@]}" --arch resnet18 --in-chans 2 -o x.safetensors
expect_error "--in-chans repeat with the baseline" "needs a torchvision architecture" 2 \
    $B/cnntrain "${T[@]}" --in-chans repeat -o x.safetensors
expect_error "--in-norm of an unknown kind" "bad value for --in-norm: rgb" 2 \
    $B/cnntrain "${T[@]}" --arch resnet18 --in-chans repeat --in-norm rgb -o x.safetensors
expect_error "--in-norm imagenet without --in-chans repeat" "needs --in-chans repeat" 2 \
    $B/cnntrain "${T[@]}" --arch resnet18 --in-norm imagenet -o x.safetensors
expect_error "--freeze of an unknown part" "bad value for --freeze: head" 2 \
    $B/cnntrain "${T[@]}" --arch resnet18 --freeze head -o x.safetensors
expect_error "--unfreeze-at without --freeze" "needs --freeze backbone" 2 \
    $B/cnntrain "${T[@]}" --arch resnet18 --unfreeze-at 3 -o x.safetensors
expect_error "an unknown architecture" "unknown architecture" 2 \
    $B/cnntrain "${T[@]}" --arch resnet19 -o x.safetensors
HOSTILE=$(ls "$TESTS"/corpus/pth/*os_system* 2>/dev/null | head -1)
if [ -n "$HOSTILE" ]; then
    expect_error "a hostile .pth (GLOBAL os.system) is refused" "os.system|not allowed|global" 1 \
        $B/cnntrain "${T[@]}" --arch resnet18 --pretrained "$HOSTILE" -o x.safetensors
    no_partial "no checkpoint after a hostile .pth" x.safetensors
else
    skip "hostile .pth: no corpus file"
fi
