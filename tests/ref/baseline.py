"""The baseline CNN in PyTorch: the reference the C engine is checked against, and the model a user can
load our checkpoints into (`from tests.ref.baseline import BaselineCNN` or copy these 30 lines).

Architecture (documented in cnntrain(1)): four blocks conv3x3 (padding 1, no bias) - BatchNorm2d - ReLU -
MaxPool2d(2) with 16, 32, 64, 128 channels, global average pooling, then a small classifier head
Linear(128, 64) - ReLU - Dropout(0.3) - Linear(64, n_classes). Parameter names are the state_dict's."""
import torch
from torch import nn


class BaselineCNN(nn.Module):
    def __init__(self, n_classes: int, in_channels: int = 1, dropout: float = 0.3):
        super().__init__()
        layers = []
        c = in_channels
        for k in (16, 32, 64, 128):
            layers += [nn.Conv2d(c, k, 3, padding=1, bias=False), nn.BatchNorm2d(k), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c = k
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(128, 64), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(64, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))
