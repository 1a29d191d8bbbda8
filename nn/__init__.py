"""nn: modules, layers, losses, initialisers, optimisers and data loading, built on autograd's operations.

Nothing in this package writes a backward pass by hand: every layer and loss is composed of autograd
operations, so its gradient comes from the engine (and is checked by autograd.gradcheck in the tests).
"""

from __future__ import annotations

# --- modules, layers, losses, init, saving ---
from . import functional, init
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Softplus, Swish, Tanh
from .conv import Conv1d, Conv2d
from .dropout import Dropout
from .linear import Bilinear, Flatten, Identity, Linear, Maxout, Unflatten
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    LogCoshLoss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from .module import (
    InputTypeError,
    LayerError,
    LayerIndexError,
    Module,
    ModuleDict,
    ModuleList,
    Sequential,
    ShapeError,
)
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .parameter import Parameter
from .pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
    MaxUnpool1d,
    MaxUnpool2d,
)
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .serialization import SerializationError, load, save
from .sparse import Embedding

# isort: split

# --- training: optimisers, schedules, data, regularisation ---
from . import data, optim, training, utils
from .regularization import GaussianNoise
from .training import evaluate, fit

# isort: split

# --- architectures: attention, transformers, graph networks, more losses ---
from .attention import MultiheadAttention
from .graph import GCNConv
from .loss import GaussianNLLLoss
from .transformer import (
    PositionalEncoding,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    sinusoidal_positional_encoding,
)

# isort: split

# --- several processes: nn.distributed, DistributedDataParallel, SyncBatchNorm ---
from . import distributed, parallel
from .parallel import SyncBatchNorm

# isort: split

# --- PyTorch's everyday surface: activations, transposed convolutions, distances, resampling ---
from .activation import (
    CELU,
    GLU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LogSigmoid,
    Mish,
    ReLU6,
    Softmin,
    Softsign,
    Tanhshrink,
    Threshold,
)
from .conv import ConvTranspose1d, ConvTranspose2d
from .distance import CosineSimilarity, PairwiseDistance
from .upsampling import PixelShuffle, PixelUnshuffle, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
