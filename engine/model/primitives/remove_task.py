"""remove_task: household-help task minutes set to zero (no more ironing): at intake and
reindication, and at the `date` moment for existing indications when their transition
period ends."""

from engine.core.domain import HO_TASKS
from engine.model.jit import jit
from engine.model.primitives.common import has_tasks, remove_tasks, standing, stands
from engine.model.primitives.spec import Packed, Param, Primitive

I_TASKS = 0  # bit mask of engine.core.domain.HO_TASKS


def pack(params: dict, ctx) -> Packed:
    return Packed(i={I_TASKS: sum(1 << HO_TASKS.index(t) for t in params["tasks"])})


SPEC = Primitive(
    name="remove_task",
    doc="household-help tasks are no longer indicated (their minutes set to zero)",
    moments=("intake", "reindication", "date"),
    params=(Param("tasks", "names", "the tasks removed", choices="ho_tasks"),),
    pack=pack,
    needs_ho=True,
)


@jit
def due(S, P, a, r, m, seq):
    """At the `date` moment the rule can only act on a slot that has one of the tasks."""
    return has_tasks(S, a, P.rules[r].i[I_TASKS])


@jit
def act(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    tasks = P.rules[r].i[I_TASKS]
    if has_tasks(S, a, tasks) and standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
        remove_tasks(S, P, B, ch, c, a, r, t, g, tasks)


@jit
def would_act(S, P, c, a, r, m, t, g, seq, moment):
    return has_tasks(S, a, P.rules[r].i[I_TASKS]) and stands(S, P, r, c, seq)
