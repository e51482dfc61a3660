"""The partner ledger: what each agency pays and gains under a plan.

For each agency: capital receipts (from its own sites), running costs saved and backlog
avoided (its own sites), one-off spend (moves of its own services), yearly pair costs,
recharges paid (its services in other agencies' sites) and received (other agencies'
services in its sites), and its net present value, both under the Green Book schedule and
under the optimiser's constant rate with the spec's timing (model.md, rule 7).

Cost shunting: a move paid by one agency whose savings land with another - the service of
agency A leaves a site of agency B that is then sold: A pays the fit-out and move, B gets the
receipt and the running-cost saving.

Balancing transfers: one-off payments (present value, year 0) that leave every partner no
worse off (NPV >= 0) while keeping the plan's total: the partners that lose are made whole,
funded by the partners that gain in proportion to their gains. They sum to zero. They exist
only when the plan's total NPV is at least 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.finance import (
    CASH_LINES,
    RECHARGE_LINES,
    Plan,
    Schedule,
    constant_factor,
    green_book_factor,
)

LEDGER_COLUMNS = (
    "agency", "sites_disposed", "services_moved", "gross_receipts_gbp", "disposal_costs_gbp",
    "exit_costs_gbp", "net_receipts_gbp", "running_cost_saved_gbp_per_year", "running_cost_saved_gbp",
    "backlog_avoided_gbp", "one_off_spend_gbp", "pair_annual_gbp", "recharges_paid_gbp_per_year",
    "recharges_received_gbp_per_year", "recharges_paid_gbp", "recharges_received_gbp",
    "net_cash_flow_gbp", "npv_green_book_gbp", "npv_constant_gbp", "rule7_value_gbp",
)
TOL_GBP = 0.005  # half a penny


@dataclass
class Ledger:
    agencies: pd.DataFrame  # one row per agency: LEDGER_COLUMNS
    shunting: pd.DataFrame  # one row per move whose savings land with another agency
    transfers: pd.DataFrame  # payer, payee, amount_gbp (present value)
    balance: pd.DataFrame  # per agency: npv before, transfer in/out, after; rule 7 comparison
    basis: str  # which NPV the transfers balance: green_book | constant
    feasible: bool  # can transfers leave every partner no worse off (total NPV >= 0)?
    message: str  # plain-language comparison with the optimiser's partner rule


def rule7_values(plan: Plan) -> dict[str, float]:
    """Each agency's value in the spec's rule 7 (model.md): sum of b_j over its disposed sites
    minus the cost c_uj of its services' placements minus a(0) recharge x space for its
    services in other agencies' sites plus the same for others' services in its sites, at the
    constant rate r with k_j = available_year (no market cap)."""
    H, r = plan.horizon_years, plan.discount_rate

    def a(k):
        return sum(constant_factor(t, r) for t in range(k + 1, H + 1)) if k < H else 0.0

    out: dict[str, float] = {}
    for s in plan.disposed.itertuples(index=False):
        k = int(s.available_year)
        b = (constant_factor(k, r) * (s.market_value_gbp - s.disposal_cost_gbp - s.exit_cost_gbp)
             + a(k) * s.running_cost_gbp + s.backlog_gbp)
        out[s.agency] = out.get(s.agency, 0.0) + b
    a0 = a(0)
    for m in plan.moves.itertuples(index=False):
        c = m.one_off_gbp + a0 * m.annual_gbp
        out[m.service_agency] = out.get(m.service_agency, 0.0) - c - a0 * m.recharge_gbp_per_year
        if m.recharge_gbp_per_year:
            out[m.host_agency] = out.get(m.host_agency, 0.0) + a0 * m.recharge_gbp_per_year
    for ag in plan.sites["agency"]:
        out.setdefault(ag, 0.0)
    return out


def agency_table(schedule: Schedule) -> pd.DataFrame:
    """The ledger's per-agency table (see LEDGER_COLUMNS)."""
    plan, flows = schedule.plan, schedule.flows
    agencies = sorted(set(plan.sites["agency"]) | set(plan.moves["service_agency"]) | set(flows["agency"]))
    years = sorted(set(flows["year"]) | set(schedule.years))
    gb = {k: green_book_factor(k) for k in years}
    cr = {k: constant_factor(k, plan.discount_rate) for k in years}
    f = flows.assign(gb=flows["year"].map(gb), cr=flows["year"].map(cr))
    tot = f.pivot_table(index="agency", columns="line", values="amount_gbp", aggfunc="sum", fill_value=0.0)
    all_lines = [c for c, _ in CASH_LINES] + list(RECHARGE_LINES)
    tot = tot.reindex(index=agencies, columns=all_lines, fill_value=0.0)
    pv_gb = (f["amount_gbp"] * f["gb"]).groupby(f["agency"]).sum().reindex(agencies, fill_value=0.0)
    pv_cr = (f["amount_gbp"] * f["cr"]).groupby(f["agency"]).sum().reindex(agencies, fill_value=0.0)
    d = schedule.disposals
    mv = plan.moves
    r7 = rule7_values(plan)
    rows = []
    for ag in agencies:
        dd = d[d["agency"] == ag]
        mm = mv[mv["service_agency"] == ag]
        host = mv[mv["host_agency"] == ag]
        t = tot.loc[ag]
        rows.append({
            "agency": ag,
            "sites_disposed": len(dd),
            "services_moved": int(mm["moved"].sum()),
            "gross_receipts_gbp": t["gross_receipts_gbp"],
            "disposal_costs_gbp": 0.0 - t["disposal_costs_gbp"],
            "exit_costs_gbp": 0.0 - t["exit_costs_gbp"],
            "net_receipts_gbp": float(dd["net_receipt_gbp"].sum()),
            "running_cost_saved_gbp_per_year": float(dd["running_cost_saved_gbp_per_year"].sum()),
            "running_cost_saved_gbp": t["running_cost_saved_gbp"],
            "backlog_avoided_gbp": t["backlog_avoided_gbp"],
            "one_off_spend_gbp": float(mm["one_off_gbp"].sum()),
            "pair_annual_gbp": 0.0 - t["pair_annual_gbp"],
            "recharges_paid_gbp_per_year": float(mm["recharge_gbp_per_year"].sum()),
            "recharges_received_gbp_per_year": float(host["recharge_gbp_per_year"].sum()),
            "recharges_paid_gbp": 0.0 - t["recharges_paid_gbp"],
            "recharges_received_gbp": t["recharges_received_gbp"],
            "net_cash_flow_gbp": float(t.sum()),
            "npv_green_book_gbp": float(pv_gb[ag]),
            "npv_constant_gbp": float(pv_cr[ag]),
            "rule7_value_gbp": float(r7.get(ag, 0.0)),
        })
    return pd.DataFrame(rows, columns=list(LEDGER_COLUMNS))


def cost_shunting(schedule: Schedule) -> pd.DataFrame:
    """Moves paid by one agency that free a site of another agency which the plan sells: the
    payer bears the one-off cost, the site's owner gets the receipt and the savings."""
    plan = schedule.plan
    d = schedule.disposals.set_index("site_id")
    owner = dict(zip(plan.sites["site_id"], plan.sites["agency"], strict=True))
    H = plan.horizon_years
    rows = []
    for m in plan.moved.itertuples(index=False):
        fr = m.from_site_id
        if not fr or fr not in d.index:
            continue
        site_owner = owner.get(fr, "")
        if site_owner == m.service_agency:
            continue
        s = d.loc[fr]
        k = int(s["sale_year"])
        benefit = (green_book_factor(k) * (s["net_receipt_gbp"] - s["exit_cost_gbp"])
                   + sum(green_book_factor(t) for t in range(k + 1, H + 1)) * s["running_cost_saved_gbp_per_year"]
                   + s["backlog_avoided_gbp"])
        rows.append({
            "service_id": m.service_id, "service_name": m.service_name, "paying_agency": m.service_agency,
            "one_off_paid_gbp": m.one_off_gbp, "recharge_paid_gbp_per_year": m.recharge_gbp_per_year,
            "from_site_id": fr, "benefiting_agency": site_owner, "to_site_id": m.to_site_id,
            "host_agency": m.host_agency, "site_sale_year": k,
            "site_sale_financial_year": schedule.label(k),
            "site_benefit_green_book_gbp": float(benefit),
        })
    cols = ["service_id", "service_name", "paying_agency", "one_off_paid_gbp", "recharge_paid_gbp_per_year",
            "from_site_id", "benefiting_agency", "to_site_id", "host_agency", "site_sale_year",
            "site_sale_financial_year", "site_benefit_green_book_gbp"]
    return pd.DataFrame(rows, columns=cols)


def balancing_transfers(values: dict[str, float]) -> tuple[pd.DataFrame, dict[str, float], bool]:
    """Transfers that bring every agency with a negative value to exactly 0, paid by the
    agencies with a positive value in proportion to their values. Returns (transfers: payer,
    payee, amount_gbp), each agency's net transfer (+ received, - paid), and whether it is
    possible (the total is >= 0). Transfers sum to zero by construction."""
    losers = {a: -v for a, v in values.items() if v < -TOL_GBP}
    winners = {a: v for a, v in values.items() if v > TOL_GBP}
    deficit = sum(losers.values())
    surplus = sum(winners.values())
    net = {a: 0.0 for a in values}
    if deficit == 0:
        return pd.DataFrame(columns=["payer", "payee", "amount_gbp"]), net, True
    if surplus + TOL_GBP < deficit:
        return pd.DataFrame(columns=["payer", "payee", "amount_gbp"]), net, False
    rows = []
    for w, gain in sorted(winners.items()):
        pay = deficit * gain / surplus
        for lo, loss in sorted(losers.items()):
            amt = pay * loss / deficit
            rows.append({"payer": w, "payee": lo, "amount_gbp": amt})
            net[w] -= amt
            net[lo] += amt
    return pd.DataFrame(rows, columns=["payer", "payee", "amount_gbp"]), net, True


def build_ledger(schedule: Schedule, basis: str = "green_book") -> Ledger:
    """The partner ledger of a schedule; transfers balance the ``basis`` NPV (green_book or
    constant) and are compared with the optimiser's partner rule (rule 7)."""
    if basis not in ("green_book", "constant"):
        raise ValueError("basis must be green_book or constant")
    table = agency_table(schedule)
    col = "npv_green_book_gbp" if basis == "green_book" else "npv_constant_gbp"
    values = dict(zip(table["agency"], table[col], strict=True))
    transfers, net, ok = balancing_transfers(values)
    bal = pd.DataFrame({
        "agency": table["agency"],
        "npv_before_gbp": table[col],
        "transfer_gbp": [net[a] for a in table["agency"]],
    })
    bal["npv_after_gbp"] = bal["npv_before_gbp"] + bal["transfer_gbp"]
    bal["rule7_value_gbp"] = table["rule7_value_gbp"].to_numpy()
    bal["meets_rule7"] = bal["rule7_value_gbp"] >= -TOL_GBP
    plan = schedule.plan
    label = "Green Book NPV of the schedule" if basis == "green_book" else "constant-rate NPV of the schedule"
    losers = bal[bal["npv_before_gbp"] < -TOL_GBP]
    r7_fail = bal[~bal["meets_rule7"]]
    total = float(bal["npv_before_gbp"].sum())
    parts = []
    if losers.empty:
        parts.append(f"On the {label} every partner is no worse off: no transfer is needed.")
    elif ok:
        parts.append(f"On the {label}, {', '.join(losers['agency'])} would be worse off; transfers of "
                     f"£{-losers['npv_before_gbp'].sum():,.0f} from the partners that gain leave every "
                     f"partner at or above zero and keep the total of £{total:,.0f}.")
    else:
        parts.append(f"On the {label} the plan's total is £{total:,.0f}, below zero: no transfers can leave "
                     "every partner no worse off.")
    if plan.partner_no_worse_off:
        if r7_fail.empty:
            parts.append("The optimiser's partner rule (rule 7) was on and holds: every partner's value "
                         "at the constant rate, with the spec's timing, is at least zero.")
        else:
            parts.append("The optimiser's partner rule (rule 7) was on but fails for "
                         f"{', '.join(r7_fail['agency'])}: check that the plan and the scenario belong together.")
    else:
        if r7_fail.empty:
            parts.append("The optimiser's partner rule (rule 7) was off, and the plan would meet it anyway.")
        else:
            parts.append("The optimiser's partner rule (rule 7) was off; the plan breaks it for "
                         f"{', '.join(r7_fail['agency'])}. Rule 7 would change the plan itself (possibly "
                         "lowering the total) where transfers keep this plan and share its value: rerun "
                         "with partner_no_worse_off = true and compare the scenarios to see the rule's cost.")
    if (bal["npv_before_gbp"] < -TOL_GBP).ne(~bal["meets_rule7"]).any():
        parts.append("The two measures disagree for some partner: rule 7 uses the constant rate and each "
                     "site's available year, the schedule the Green Book rates and any market-cap delays.")
    return Ledger(agencies=table, shunting=cost_shunting(schedule), transfers=transfers, balance=bal,
                  basis=basis, feasible=ok, message=" ".join(parts))


def ledger_frame(ledger: Ledger) -> pd.DataFrame:
    """The per-agency table with the balancing transfers joined on (the Partner ledger sheet)."""
    out = ledger.agencies.merge(ledger.balance[["agency", "transfer_gbp", "npv_after_gbp", "meets_rule7"]],
                                on="agency", how="left")
    out = out.rename(columns={"transfer_gbp": "balancing_transfer_gbp",
                              "npv_after_gbp": f"npv_{ledger.basis}_after_transfers_gbp"})
    num = out.select_dtypes(include=[np.number]).columns
    total = {c: out[c].sum() for c in num}
    total["agency"] = "Total"
    total["meets_rule7"] = bool(out["meets_rule7"].all())
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)
