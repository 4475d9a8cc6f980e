"""Many small trainings at once: a stack of G models of one architecture trained together.

A :class:`ModelStack` holds G members' weights stacked along a leading axis
(``torch.func.stack_module_state``) and runs them with ``torch.func.vmap`` over
``functional_call``: a Linear layer becomes one batched matmul, a convolution one grouped
convolution, a BatchNorm normalises G x C channels with each member's own running
statistics. Every member is exactly the network one-by-one training would build:

- its own seed: initial weights of ``make_model(name, seed=seed)``, its own shuffling
  generator (``torch.Generator().manual_seed(seed)``, one ``randperm`` per epoch);
- its own loss: the sum over members of each member's mean cross-entropy, so each
  member's gradient is the one-by-one gradient;
- its own optimizer state: Adam and SGD are elementwise, so one optimizer over the stacked
  tensors is G independent optimizers (the learning rate of a step is the same for every
  member: equal subset sizes give equal steps per epoch);
- its own stopping rule: after an epoch, a member that meets the paper's rule (epoch >=
  ``min_epochs`` and running training accuracy >= ``target_train_acc``) is taken out of the
  stack (its weights frozen, its epoch count recorded) and the others go on.

Results agree with one-by-one training up to float rounding (batched vs single matmuls);
``tests/test_batched.py`` pins it. Models with dropout (``mobilenet_v2``, ``vgg16``) are not
batchable: their random masks would come from one shared generator.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Sequence

import numpy as np

from .._validation import auto_or_int
from ..models import MLP_MODELS, make_model
from .config import FitResult, TrainConfig, full_precision, images_on, make_optimizer, unit_float

__all__ = [
    "BATCHABLE",
    "ModelStack",
    "batchable",
    "fit_members",
    "fit_stack",
    "stack_size",
    "member_bytes",
    "predict_proba_stack",
]

#: Architectures a stack can train (no dropout, no other hidden randomness).
BATCHABLE = MLP_MODELS + ("cnn", "resnet18", "resnet34", "resnet50")


def batchable(name: str) -> bool:
    """True when ``name`` can train as a member of a :class:`ModelStack`."""
    return str(name).lower() in BATCHABLE


class ModelStack:
    """G models of one architecture as stacked tensors, run with ``vmap``.

    Parameters
    ----------
    models : sequence of torch.nn.Module
        G >= 1 models of the same architecture (their weights are copied).
    device : str
    """

    def __init__(self, models: Sequence[Any], *, device: str = "cpu") -> None:
        import torch
        from torch.func import stack_module_state

        if not models:
            raise ValueError("a ModelStack needs at least one model")
        params, buffers = stack_module_state(list(models))
        self.params = {k: v.detach().to(device).requires_grad_(True) for k, v in params.items()}
        self.buffers = {k: v.detach().to(device) for k, v in buffers.items()}
        self.template = copy.deepcopy(models[0]).to("meta")
        self.device = device
        self._torch = torch

    @property
    def G(self) -> int:  # noqa: N802 - the STYLE.md name of a member count
        return len(next(iter(self.params.values())))

    def __call__(self, x, *, shared: bool = False, train: bool = True):
        """Logits ``(G, B, K)`` of inputs ``(G, B, ...)`` (or ``(B, ...)`` for every member when ``shared``)."""
        from torch.func import functional_call, vmap

        self.template.train(train)

        def one(p, b, xb):
            return functional_call(self.template, (p, b), (xb,))

        return vmap(one, in_dims=(0, 0, None if shared else 0))(self.params, self.buffers, x)

    def keep(self, rows) -> dict[Any, Any]:
        """Keep members ``rows`` (a 1-d index); returns ``{old parameter: new parameter}``."""
        moved = {}
        for k, p in list(self.params.items()):
            new = p.detach()[rows].clone().requires_grad_(True)
            moved[p] = new
            self.params[k] = new
        self.buffers = {k: v[rows].clone() for k, v in self.buffers.items()}
        return moved

    def member_state(self, g: int) -> dict[str, Any]:
        """Member ``g``'s state dict (detached copies)."""
        out = {k: v[g].detach().clone() for k, v in self.params.items()}
        out.update((k, v[g].clone()) for k, v in self.buffers.items())
        return out

    @classmethod
    def from_states(cls, template, states: Sequence[dict[str, Any]], *, device: str) -> "ModelStack":
        """A stack of G members given as state dicts of ``template``'s architecture."""
        stack = cls.__new__(cls)
        import torch

        names = {k for k, _ in template.named_parameters()}
        stacked = {k: torch.stack([s[k] for s in states]).to(device) for k in states[0]}
        stack.params = {k: v.requires_grad_(True) for k, v in stacked.items() if k in names}
        stack.buffers = {k: v for k, v in stacked.items() if k not in names}
        stack.template = copy.deepcopy(template).to("meta")
        stack.device = device
        stack._torch = torch
        return stack

    def module(self, g: int, template) -> Any:
        """Member ``g`` as an ordinary module (``template`` gives the architecture, on CPU)."""
        model = copy.deepcopy(template)
        model.load_state_dict({k: v.cpu() for k, v in self.member_state(g).items()})
        return model


def _transfer_state(opt, new_opt, moved: dict, rows) -> None:
    """Carry optimizer state of kept members over to the compacted parameters."""
    import torch

    for old, new in moved.items():
        st = opt.state.get(old)
        if st:
            new_opt.state[new] = {
                k: (v[rows].clone() if torch.is_tensor(v) and v.dim() > 0 else v) for k, v in st.items()
            }


def fit_stack(
    stack: ModelStack,
    X,
    y,
    subsets,
    *,
    config: TrainConfig,
    seeds: Sequence[int],
    amp: bool = False,
) -> tuple[ModelStack, list[FitResult]]:
    """Train every member of ``stack`` on its own subset, as :func:`training.fit_torch` would.

    Parameters
    ----------
    stack : ModelStack
        G members (trained in place; members are taken out as they stop).
    X : torch.Tensor, shape (N_all, C, H, W), uint8 (or float in [0, 1]), on the stack's device
        The whole training split (batches are index gathers from it).
    y : torch.Tensor, shape (N_all,), int64, same device
    subsets : torch.Tensor, shape (G, N), int64
        Member g trains on ``X[subsets[g]]`` (equal sizes N).
    config : TrainConfig
    seeds : sequence of int, length G
        Each member's shuffling seed (its initial weights come with the stack).
    amp : bool
        bf16 autocast of the forward pass (CUDA only; ignored on CPU).

    Returns
    -------
    final : ModelStack
        The G trained members in their original order.
    results : list of FitResult
        One per member; ``seconds`` is the stack's wall time divided by G.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    G, N = subsets.shape
    if len(seeds) != G or stack.G != G:
        raise ValueError(f"{stack.G} members, {G} subsets and {len(seeds)} seeds: they must match")
    dev = stack.device
    torch.manual_seed(int(seeds[0]))
    gens = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
    B = config.batch_size
    total = config.total_steps(N)
    max_epochs = math.ceil(total / math.ceil(N / B)) if config.steps else config.max_epochs
    use_amp = amp and str(dev).startswith("cuda")
    opt = make_optimizer(stack.params.values(), config)
    active = list(range(G))  # original member of each stack row
    states: dict[int, dict[str, Any]] = {}
    results: dict[int, FitResult] = {}
    histories: list[list[dict[str, float]]] = [[] for _ in range(G)]
    t0 = time.perf_counter()
    step, lr = 0, config.lr_schedule[0][1]
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        perms = torch.stack([torch.randperm(N, generator=gens[g]) for g in active]).to(dev)
        rows_idx = subsets[torch.tensor(active, device=subsets.device)].to(dev)
        correct = torch.zeros(len(active), dtype=torch.long, device=dev)
        loss_sum = torch.zeros(len(active), dtype=torch.float32, device=dev)
        seen = 0
        for start in range(0, N, B):
            if step == total:
                break
            lr = config.lr_at_step(step, epoch=epoch, total=total)
            for group in opt.param_groups:
                group["lr"] = lr
            idx = rows_idx.gather(1, perms[:, start : start + B])  # (G, b) rows of the split
            xb, yb = unit_float(X[idx]), y[idx]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                logits = full_precision(stack(xb))
            per = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none").view(yb.shape)
            loss = per.mean(1)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            step += 1
            seen += idx.shape[1]
            with torch.no_grad():
                correct += (logits.detach().argmax(2) == yb).sum(1)
                loss_sum += loss.detach() * idx.shape[1]
        accs = (correct.double() / seen).tolist()  # one host sync per epoch
        losses = (loss_sum / seen).tolist()
        for row, g in enumerate(active):
            histories[g].append(
                {"epoch": epoch, "train_acc": accs[row], "train_loss": losses[row], "lr": lr, "steps": step}
            )
        stop_rule = not config.steps and epoch >= config.min_epochs
        done = [row for row, a in enumerate(accs) if stop_rule and a >= config.target_train_acc]
        last = epoch == max_epochs or step == total
        for row in range(len(active)) if last else done:
            g = active[row]
            states[g] = stack.member_state(row)
            results[g] = FitResult(epochs=epoch, train_acc=accs[row], seconds=0.0, steps=step, history=histories[g])
        if last or len(done) == len(active):
            break
        if done:
            rows = torch.tensor([r for r in range(len(active)) if r not in done], device=dev)
            moved = stack.keep(rows)
            new_opt = make_optimizer(stack.params.values(), config)
            _transfer_state(opt, new_opt, moved, rows)
            opt = new_opt
            active = [active[r] for r in rows.tolist()]
    seconds = (time.perf_counter() - t0) / G
    final = ModelStack.from_states(stack.template, [states[g] for g in range(G)], device=dev)
    out = []
    for g in range(G):
        results[g].seconds = seconds
        out.append(results[g])
    return final, out


def predict_proba_stack(stack: ModelStack, X: np.ndarray, *, batch_size: int = 1000, amp: bool = False) -> np.ndarray:
    """Softmax probabilities ``(G, N, K)`` of every member on the same images (eval mode, no grad).

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W), uint8 (or float in [0, 1])
    """
    import torch

    use_amp = amp and str(stack.device).startswith("cuda")
    out = []
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
        for start in range(0, len(X), batch_size):
            xb = unit_float(images_on(X[start : start + batch_size], stack.device))
            out.append(torch.softmax(full_precision(stack(xb, shared=True, train=False)), dim=2))
    return torch.cat(out, dim=1).cpu().numpy().astype(np.float64)


def stack_size(batch_models: int | str, *, model: str, members: int, device: str, member_bytes: int = 0) -> int:
    """Members per stack: ``batch_models`` as an int (1 = one by one), or ``"auto"``.

    ``"auto"``: on CUDA, for a :func:`batchable` model, as many members as fit in half the
    free memory at ``member_bytes`` each (:func:`member_bytes`), never more than
    ``members``; otherwise 1. On CPU a stack never paid: a one-by-one step of these nets
    is FLOP-bound already (MLP-3 at ~60-77 GFLOP/s on one AVX2 core), a batched matmul or
    grouped convolution does the same FLOPs a little less efficiently, and with fused
    optimizers on both sides stacks of 6-12 ran at 0.8-1.1x one by one for MLP-1 / MLP-3 at
    n = 10-100 (docs/benchmarks.md, issue 15). An explicit int still stacks on CPU.
    """
    batch_models = auto_or_int(batch_models, "batch_models")
    if batch_models == "auto":
        if not batchable(model) or not str(device).startswith("cuda"):
            return 1
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return max(1, min(members, int(0.5 * free // max(member_bytes, 1))))
    g = int(batch_models)
    if g > 1 and not batchable(model):
        raise ValueError(f"model {model!r} cannot be batched (dropout); use batch_models=1 or 'auto'")
    return min(g, members)


def member_bytes(model, *, C: int, H: int, W: int, batch_size: int) -> int:  # noqa: N803
    """Memory one training member needs: weights, gradients and two optimizer states (16 bytes
    a weight) plus the activations of a batch, 3x every module output of one image (what
    autograd keeps, with room), measured by one CPU forward pass."""
    import torch

    sizes: list[int] = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: sizes.append(o.numel())) for m in model.modules()]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, C, H, W))
    finally:
        for h in hooks:
            h.remove()
        model.train()
    params = sum(p.numel() for p in model.parameters())
    return int(16 * params + 3 * 4 * batch_size * sum(sizes))


def fit_members(
    name: str,
    X,
    y,
    subsets,
    *,
    K: int,
    config: TrainConfig,
    seeds: Sequence[int],
    device: str,
    pretrained: bool | str = "auto",
    width: int = 512,
    amp: bool = False,
) -> tuple[ModelStack, Any, list[dict[str, Any]]]:
    """Make G models of ``name`` (one per seed, as :func:`models.make_model` would) and train them stacked.

    Parameters
    ----------
    X : torch.Tensor, shape (N_all, C, H, W), uint8, on ``device``
    y : torch.Tensor, shape (N_all,), int64, on ``device``
    subsets : torch.Tensor, shape (G, N), int64

    Returns
    -------
    stack : ModelStack
        The trained members.
    template : torch.nn.Module
        An untrained model of the architecture (CPU), for :meth:`ModelStack.module`.
    infos : list of dict
        Per member, the keys of :func:`training.fit_model`'s info.
    """
    C, H, W = (int(s) for s in X.shape[1:])
    built: dict[int, tuple[Any, dict[str, Any]]] = {}
    for s in dict.fromkeys(int(s) for s in seeds):  # one build per distinct seed
        built[s] = make_model(name, C=C, H=H, W=W, K=K, seed=s, width=width, pretrained=pretrained)
    models = [built[int(s)][0] for s in seeds]
    stack = ModelStack(models, device=device)
    final, results = fit_stack(stack, X, y, subsets, config=config, seeds=seeds, amp=amp)
    infos = []
    for s, res in zip(seeds, results):
        info = dict(built[int(s)][1])
        info.update(
            epochs=res.epochs, steps=res.steps, train_acc=res.train_acc, history=res.history, seconds=res.seconds, K=K
        )
        infos.append(info)
    return final, models[0], infos
