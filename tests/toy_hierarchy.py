"""The toy hierarchy that the metric and representation tests work by hand."""

import torch

# A toy hierarchy of 5 leaf classes:
#   root (height 3) -> X (height 2) -> P (height 1) -> {0, 1}
#                      X -> 2
#   root -> 3, root -> 4
LCA = torch.tensor(
    [
        [0, 1, 2, 3, 3],
        [1, 0, 2, 3, 3],
        [2, 2, 0, 3, 3],
        [3, 3, 3, 0, 3],
        [3, 3, 3, 3, 0],
    ]
)
