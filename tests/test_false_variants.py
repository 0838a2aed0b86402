"""The false-variant battery (``proofs_check/examples/false_variants.py``), loaded exactly as
``python -m proofs_check --extra`` loads a user's file: at the default settings
(``--instances 1000``, default search) every false variant is reported violated with a
counterexample that is itself violated, and every true variant holds. Seeds rotate over the
battery (each variant runs on one seed, the two that escaped earlier searches on three)."""

from pathlib import Path

import pytest

from proofs_check import all_claims, get, run_claim
from proofs_check.__main__ import load_extra
from proofs_check.runner import from_jsonable

BATTERY = Path(__file__).resolve().parents[1] / "proofs_check" / "examples" / "false_variants.py"
DEFAULT_INSTANCES = 1000  # python -m proofs_check's default


def _ids():
    if not any(c.id.startswith("variant.") for c in all_claims()):
        load_extra(str(BATTERY))
    return sorted(c.id for c in all_claims() if c.id.startswith("variant."))


IDS = _ids()
HARD = ("variant.tres-thm1.d", "variant.trpo-tv.constant-2")  # escaped the earlier search on some seeds
CASES = [(cid, k % 3) for k, cid in enumerate(IDS)] + [(cid, s) for cid in HARD for s in (3, 4)]


def test_battery_size_and_documentation():
    false = [c for c in IDS if get(c).expected == "violated"]
    true = [c for c in IDS if get(c).expected == "holds"]
    assert len(false) >= 25 and len(true) >= 5
    text = BATTERY.read_text()
    for cid in IDS:  # every variant comes with its proof (a comment right above its registration)
        assert f'"{cid[len("variant."):]}"' in text


@pytest.mark.parametrize("claim_id, seed", CASES)
def test_variant_status_at_default_settings(claim_id, seed):
    claim = get(claim_id)
    res = run_claim(claim, DEFAULT_INSTANCES, seed, regressions_dir=False)
    assert res.error is None, res.error
    assert res.status == claim.expected, (claim_id, seed, res.tightness)
    if claim.expected == "violated":
        ce = from_jsonable(res.counterexample["instance"])
        assert claim.check_one(ce).violated[0]
    else:  # a tightness above 1 only within the round-off tolerance, and then labelled so
        assert res.violations == 0 and (not res.tightness > 1 or res.verdict == "holds (within round-off)")
