"""How far does a PyTorch tutorial get here, with only its imports changed? Statement by statement.

    python benchmarks/tutorials.py DIR [--verbose]

DIR holds PyTorch tutorial scripts (`*.py`; not part of this repository: take them from github.com/pytorch/tutorials,
e.g. beginner_source/basics/{tensorqs,autogradqs,buildmodel,optimization,saveloadrun}_tutorial.py,
beginner_source/blitz/{neural_networks,cifar10}_tutorial.py and
beginner_source/examples_autograd/polynomial_custom_function.py). Each script runs twice, each time in a fresh
process and a scratch directory: under PyTorch as written, and under glassgrad with its import statements
rewritten (`import torch` -> `import autograd as torch`, `torch.nn` -> `nn`, `torch.optim` -> `nn.optim`,
`torch.utils.data` -> `nn.data`, torchvision's `transforms` -> `nn.data.transforms`; nothing else changes, so
`torch.nn.functional.relu` written out in full still fails). Every top-level statement (a whole `for` loop or
class is one) runs on its own; one that raises is recorded and the script goes on with the next. The score is
the number of statements that run under PyTorch that also run here.

Datasets are synthetic, the same for both: `torchvision.datasets.FashionMNIST` and `CIFAR10` are replaced by
small sets of random PIL images (512/128 and 200/40 samples; Pillow is needed), and, under PyTorch only, a
minimal `torchvision.transforms` (ToTensor, Normalize, Compose) when torchvision is not installed. Anything
else torchvision has (models, utils) is left missing on both sides, so statements using it count for neither.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

# full module name under PyTorch -> under glassgrad
MODULES = {
    "torch": "autograd",
    "torch.nn": "nn",
    "torch.nn.functional": "nn.functional",
    "torch.optim": "nn.optim",
    "torch.utils.data": "nn.data",
    "torchvision.transforms": "nn.data.transforms",
}

DATASETS = '''
import numpy as np
from PIL import Image


class _Synthetic:
    def __init__(self, root=None, train=True, download=False, transform=None, target_transform=None):
        rng = np.random.default_rng(0 if train else 1)
        n = self.sizes[0 if train else 1]
        self.data = rng.integers(0, 256, (n, *self.shape), dtype=np.uint8)
        self.targets = rng.integers(0, 10, n).tolist()
        self.transform, self.target_transform = transform, target_transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        image = Image.fromarray(self.data[i])
        target = self.targets[i]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target


class FashionMNIST(_Synthetic):
    sizes, shape = (512, 128), (28, 28)


class CIFAR10(_Synthetic):
    sizes, shape = (200, 40), (32, 32, 3)
'''

TORCH_TRANSFORMS = '''
import numpy as np
import torch


class ToTensor:
    def __call__(self, pic):
        a = np.asarray(pic)
        a = a[:, :, None] if a.ndim == 2 else a
        return torch.from_numpy(a.transpose(2, 0, 1).copy()).float().div(255)


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]

    def __call__(self, x):
        return (x - self.mean) / self.std


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x
'''

RUNNER = '''
import ast, contextlib, io, json, sys, traceback
import matplotlib
matplotlib.use("Agg")
source_path, engine, out_path = sys.argv[1:4]
tree = ast.parse(open(source_path).read())
namespace = {"__name__": "__main__"}
results = []
for stmt in tree.body:
    code = compile(ast.Module([stmt], []), source_path, "exec")
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink):
            exec(code, namespace)
        results.append([stmt.lineno, True, ""])
    except BaseException as err:  # noqa: BLE001 (a statement may raise anything, SystemExit included)
        results.append([stmt.lineno, False, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"])
json.dump(results, open(out_path, "w"))
'''


def rewrite_imports(source: str) -> str:
    """The script with its import statements changed from PyTorch's modules to glassgrad's (nothing else)."""
    tree = ast.parse(source)

    class Imports(ast.NodeTransformer):
        def visit_Import(self, node: ast.Import) -> ast.AST:
            names = []
            for alias in node.names:
                target = MODULES.get(alias.name)
                if target is None:
                    names.append(alias)
                elif alias.asname is None and "." not in alias.name:  # import torch -> import autograd as torch
                    names.append(ast.alias(target, alias.name))
                else:
                    names.append(ast.alias(target, alias.asname or alias.name))
            return ast.copy_location(ast.Import(names), node)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
            if node.module is None:
                return node
            out: list[ast.stmt] = []
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in MODULES:  # from torch import nn -> import nn as nn
                    out.append(ast.Import([ast.alias(MODULES[full], alias.asname or alias.name)]))
                else:
                    module = MODULES.get(node.module, node.module)
                    out.append(ast.ImportFrom(module, [alias], node.level))
            for stmt in out:
                ast.copy_location(stmt, node)
            if len(out) == 1:
                return out[0]
            return ast.copy_location(ast.If(ast.Constant(True), out, []), node)  # one statement, as written

    return ast.unparse(ast.fix_missing_locations(Imports().visit(tree)))


def shims(directory: Path, engine: str) -> None:
    """A `torchvision` package with the synthetic datasets (and, for PyTorch, minimal transforms); for glassgrad
    also a `torch` that cannot be imported."""
    package = directory / "torchvision"
    package.mkdir()
    (package / "__init__.py").write_text("from . import datasets\n")
    (package / "datasets.py").write_text(DATASETS)
    if engine == "torch":
        (package / "transforms.py").write_text(TORCH_TRANSFORMS)
        (package / "__init__.py").write_text("from . import datasets, transforms\n")
    else:  # an import the rewrite leaves alone (torch.onnx) must not reach the real PyTorch
        (directory / "torch").mkdir()
        (directory / "torch" / "__init__.py").write_text("raise ImportError('PyTorch is not used in this run')\n")


def run(script: Path, engine: str, verbose: bool) -> list:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shim_dir = work / "shims"
        shim_dir.mkdir()
        shims(shim_dir, engine)
        source = script.read_text()
        if engine == "glassgrad":
            source = rewrite_imports(source)
        (work / script.name).write_text(source)
        (work / "runner.py").write_text(RUNNER)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(shim_dir), env.get("PYTHONPATH", "")])
        subprocess.run([sys.executable, "runner.py", script.name, engine, "results.json"], cwd=work, env=env,
                       check=True, stdout=subprocess.DEVNULL if not verbose else None, timeout=1800)
        return json.loads((work / "results.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--verbose", action="store_true", help="list every statement that fails here only")
    args = parser.parse_args()
    total_torch = total_both = 0
    for script in sorted(args.directory.glob("*.py")):
        torch_results = run(script, "torch", False)
        ours = run(script, "glassgrad", False)
        both = [(t, o) for t, o in zip(torch_results, ours) if t[1]]
        passed = sum(o[1] for _, o in both)
        total_torch += len(both)
        total_both += passed
        print(f"{script.name:36s} {passed:4d} / {len(both):4d} statements   "
              f"({len(torch_results) - len(both)} fail under PyTorch too)")
        if args.verbose:
            for t, o in both:
                if not o[1]:
                    print(textwrap.indent(f"line {t[0]}: {o[2][:150]}", "    "))
    share = 100 * total_both / total_torch if total_torch else 0.0
    print(f"{'total':36s} {total_both:4d} / {total_torch:4d} statements that run under PyTorch also run here "
          f"({share:.0f}%)")


if __name__ == "__main__":
    main()
