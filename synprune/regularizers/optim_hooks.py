"""Process-wide optimizer step hooks held weakly, and which optimizers hold which parameters.

:class:`~synprune.regularizers.synaptic.SynapticPruning` must keep masked weights exactly zero
through every ``optimizer.step()`` of *any* optimizer holding pruned parameters, including
optimizers created after the pruner and never handed to it (Adam's moments would otherwise
move a masked weight). It registers torch's global hooks
(``torch.optim.optimizer.register_optimizer_step_pre_hook`` / ``..._post_hook``), which run
around the ``step()`` of every optimizer in the process.

The hooks reach their owner through a ``weakref`` only, so a global hook never keeps a pruner
(and its model) alive; :func:`remove_when_collected` removes hooks when their owner is
collected, and calling the finalizer it returns removes them earlier (``pruner.remove()``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import torch
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)
from torch.utils.hooks import RemovableHandle


def _remove(handles: list[RemovableHandle]) -> None:
    for h in handles:
        h.remove()


def remove_when_collected(
    owner: object, handles: list[RemovableHandle]
) -> weakref.finalize[[list[RemovableHandle]], object]:
    """A finalizer removing ``handles`` when ``owner`` is garbage collected, or when called
    (idempotent). It holds the handles, never ``owner``."""
    return weakref.finalize(owner, _remove, list(handles))


def weak_hook(owner: object, method: str, *bound: object, arity: int = 1) -> Callable[..., None]:
    """A hook calling ``owner.<method>(*bound, *first arity hook args)`` while ``owner`` lives
    (it holds ``owner`` weakly and does nothing once it is collected)."""
    ref = weakref.ref(owner)

    def hook(*args: object) -> None:
        obj = ref()
        if obj is not None:
            getattr(obj, method)(*bound, *args[:arity])

    return hook


def register_weak_step_hooks(owner: object, pre: str, post: str) -> list[RemovableHandle]:
    """Call ``owner.<pre>(optimizer)`` before and ``owner.<post>(optimizer)`` after every
    ``optimizer.step()`` in the process while ``owner`` lives (a weak reference: the hooks do
    nothing once it is collected; remove them with :func:`remove_when_collected`)."""
    return [
        register_optimizer_step_pre_hook(weak_hook(owner, pre)),
        register_optimizer_step_post_hook(weak_hook(owner, post)),
    ]


class OptimizerWatch:
    """Which optimizers hold any of ``params`` (by identity), cached per optimizer, weakly.

    ``holds(opt)`` is O(param groups) once cached; the cache is refreshed when the number of
    parameters of ``opt`` changes (``add_param_group``). ``fresh(opt)`` is True the first time
    it is asked about a holding optimizer (to zero its state once). ``keep(opt)`` holds an
    optimizer strongly (one handed over explicitly), listed first by ``optimizers()``.
    """

    def __init__(self, params: Sequence[torch.Tensor]) -> None:
        self._ids = {id(p) for p in params}  # the owner keeps params alive: ids stay valid
        self._cache: weakref.WeakKeyDictionary[torch.optim.Optimizer, tuple[int, bool]] = (
            weakref.WeakKeyDictionary()
        )
        self._seen: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()
        self._kept: list[torch.optim.Optimizer] = []

    def keep(self, opt: torch.optim.Optimizer) -> None:
        if self.holds(opt) and not any(o is opt for o in self._kept):
            self._kept.append(opt)

    def holds(self, opt: torch.optim.Optimizer) -> bool:
        n = sum(len(g["params"]) for g in opt.param_groups)
        hit = self._cache.get(opt)
        if hit is None or hit[0] != n:
            found = any(id(p) in self._ids for g in opt.param_groups for p in g["params"])
            hit = self._cache[opt] = (n, found)
        return hit[1]

    def fresh(self, opt: torch.optim.Optimizer) -> bool:
        if opt in self._seen:
            return False
        self._seen.add(opt)
        return True

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The kept optimizers, then the other live ones seen holding the parameters."""
        seen = [o for o, (_, found) in list(self._cache.items()) if found]
        return self._kept + [o for o in seen if not any(o is k for k in self._kept)]
