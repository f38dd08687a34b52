"""The `to` table of shift_intake and substitute: per product in scope, the product and step
an arrangement moves to. Read and packed here (plain Python: the kernel reads the packed
`P.rule_prod[r, p].prod_to` and `.step_to`)."""

from __future__ import annotations


def read_target(prod: str, target, ctx, sec) -> tuple[str, str | None]:
    """`to.<prod>`: a step code of the same product, or { product = ..., step = ... }."""
    key = f"to.{prod}"
    if isinstance(target, str):
        target = {"step": target}
    if not isinstance(target, dict) or set(target) - {"product", "step"} or not target:
        raise sec.error(key, f"{target!r}", "a step code, or { product = ..., step = ... }")
    here = ctx.policy.product(prod)
    code = target.get("product", prod)
    codes = [p.code for p in ctx.policy.products if p.domain == here.domain]
    if code not in codes:
        raise sec.error(
            f"{key}.product",
            f"unknown product {code!r} in this domain",
            "one of: " + ", ".join(codes),
        )
    there = ctx.policy.product(code)
    if code != prod and (here.ho_minutes or there.ho_minutes):
        raise sec.error(
            f"{key}.product",
            f"{prod} -> {code}: household help changes by its minutes, not its product",
            "a product other than household help on both sides",
        )
    step = target.get("step")
    if step is None:
        if code != prod:
            raise sec.error(f"{key}.step", "missing", "the step of the new product")
        return code, None
    steps = [s.code for s in there.steps]
    if step not in steps:
        raise sec.error(f"{key}.step", f"unknown step {step!r}", "one of: " + ", ".join(steps))
    if there.ho_minutes:
        raise sec.error(
            f"{key}.step",
            "a household-help step follows from its minutes",
            "no step for household help (use minutes_factor)",
        )
    return code, step


def check_targets(params: dict, ctx, sec, every_product: bool) -> None:
    to = params["to"]
    for prod in to:
        if prod not in ctx.products:
            raise sec.error(
                f"to.{prod}",
                f"product {prod!r} is not in the rule's scope",
                "one of: " + ", ".join(ctx.products),
            )
        read_target(prod, to[prod], ctx, sec)
    if every_product:
        for prod in ctx.products:
            if prod not in to:
                raise sec.error(
                    "to", f"no target for product {prod!r}", "a target for every product in scope"
                )


def pack_targets(params: dict, ctx) -> tuple[dict[str, int], dict[str, int]]:
    """(step_to, prod_to) per product in scope: indices, -1 keeps the slot's own."""
    codes = ctx.policy.product_codes
    step_to: dict[str, int] = {}
    prod_to: dict[str, int] = {}
    for prod, target in params["to"].items():
        code, step = read_target(prod, target, ctx, _Raise())
        if code != prod:
            prod_to[prod] = codes.index(code)
        if step is not None:
            step_to[prod] = ctx.policy.product(code).step_index(step)
    return step_to, prod_to


class _Raise:
    """Packing reads targets already checked: an error here is a bug."""

    def error(self, *args):
        return ValueError(" ".join(map(str, args)))
