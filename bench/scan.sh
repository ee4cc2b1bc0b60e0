#!/usr/bin/env bash
# Personal-data detection side by side with Microsoft Presidio, in one run, on the same
# corpora, scored by the same scorer; then the column classifier on Chinook and Pagila.
#
#   bench/scan.sh
#
# Inputs (nothing is copied into the repository):
#   PLEDGE_PRESIDIO_DIR  the Presidio peer harness: README.md, setup.sh, run_presidio.py,
#                        score.py, column_corpus.jsonl (default ../shared/peers/presidio)
#   PLEDGE_SHARED_DATA   the shared data folder: presidio-research/synth_dataset_v2.json,
#                        chinook/Chinook_Sqlite.sqlite, pagila/ (default ../shared/data)
#   PLEDGE_BENCH_OUT     where results go (default ${TMPDIR:-/tmp}/pledge-scan-bench)
#   PLEDGE_BENCH_REPEAT  passes over each corpus, the median is reported (default 5)
#   PLEDGE_SKIP_PRESIDIO set to 1 to run Pledge alone (its figures are then not side by side)
#   VENV                 Presidio's virtual environment, as the harness's setup.sh takes it
#
# Presidio runs as its harness's README says (analyzer 2.2.366, no_op NLP engine, one
# thread, one item a call, start-up excluded, median of the passes); its venv is made by
# the harness's setup.sh from PyPI when missing. Pledge runs the same way through
# crates/pledge-scan/examples/corpus.rs (sentences as prose, column values as cells).
# Both sets of predictions are scored by the harness's score.py. The load average is
# printed before and after: the machine may be shared.
set -euo pipefail
cd "$(dirname "$0")/.."
peer=${PLEDGE_PRESIDIO_DIR:-../shared/peers/presidio}
data=${PLEDGE_SHARED_DATA:-../shared/data}
out=${PLEDGE_BENCH_OUT:-${TMPDIR:-/tmp}/pledge-scan-bench}
repeat=${PLEDGE_BENCH_REPEAT:-5}
sentences=$data/presidio-research/synth_dataset_v2.json
columns=$peer/column_corpus.jsonl
for f in "$peer/score.py" "$peer/run_presidio.py" "$sentences" "$columns" "$data/chinook/Chinook_Sqlite.sqlite" "$data/pagila/pagila-data.sql"; do
    [ -e "$f" ] || { echo "missing $f (set PLEDGE_PRESIDIO_DIR / PLEDGE_SHARED_DATA)" >&2; exit 2; }
done
mkdir -p "$out"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} nice -n 10 cargo build --quiet --release -p pledge-scan --examples
bin=target/release/examples

presidio=skipped
if [ "${PLEDGE_SKIP_PRESIDIO:-0}" != 1 ]; then
    venv=${VENV:-${TMPDIR:-/tmp}/presidio-venv}
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import presidio_analyzer" 2>/dev/null; then
        echo "setting up Presidio in $venv (the harness's setup.sh, from PyPI)"
        VENV=$venv bash "$peer/setup.sh" || echo "Presidio's setup failed: running Pledge alone" >&2
    fi
    if "$venv/bin/python" -c "import presidio_analyzer" 2>/dev/null; then
        echo "Presidio: $repeat passes over each corpus (about a minute)"
        "$venv/bin/python" "$peer/run_presidio.py" --sentences "$sentences" --columns "$columns" \
            --out-dir "$out/presidio" --repeat "$repeat" > "$out/presidio.log" 2>&1
        presidio=$out/presidio
    fi
fi

echo "Pledge: $repeat passes over each corpus"
"$bin/corpus" sentences "$sentences" "$out/pledge_sentences.jsonl" --repeat "$repeat" > "$out/pledge_sentences_time.json"
"$bin/corpus" columns "$columns" "$out/pledge_columns.jsonl" --repeat "$repeat" > "$out/pledge_columns_time.json"

score() { python3 "$peer/score.py" "$@" > /dev/null; }
score sentences --gold "$sentences" --pred "$out/pledge_sentences.jsonl" --out "$out/pledge_sentences_score.json"
score columns --gold "$columns" --pred "$out/pledge_columns.jsonl" --out "$out/pledge_columns_score.json"
# Again with findings below confidence 0.5 dropped, as the harness also scores Presidio.
score sentences --gold "$sentences" --pred "$out/pledge_sentences.jsonl" --min-score 0.5 --out "$out/pledge_sentences_score_0.5.json"
score columns --gold "$columns" --pred "$out/pledge_columns.jsonl" --min-score 0.5 --out "$out/pledge_columns_score_0.5.json"
if [ "$presidio" != skipped ]; then
    score sentences --gold "$sentences" --pred "$presidio/predictions_sentences.jsonl" --out "$out/presidio_sentences_score.json"
    score columns --gold "$columns" --pred "$presidio/predictions_columns.jsonl" --out "$out/presidio_columns_score.json"
fi

# A held-out corpus (other Faker seed and locales), Pledge alone: the recognisers were tuned
# while reading the errors on the two corpora above, not on this one.
heldout=skipped
py=${VENV:-${TMPDIR:-/tmp}/presidio-venv}/bin/python
if [ -x "$py" ] && "$py" -c "import faker" 2>/dev/null; then
    "$py" bench/scan/heldout.py > "$out/heldout.jsonl"
    "$bin/corpus" columns "$out/heldout.jsonl" "$out/pledge_heldout.jsonl" --repeat "$repeat" > "$out/pledge_heldout_time.json"
    score columns --gold "$out/heldout.jsonl" --pred "$out/pledge_heldout.jsonl" --out "$out/pledge_heldout_score.json"
    heldout=$out
fi

echo "Columns of Chinook and Pagila"
python3 bench/scan/sample_columns.py --chinook "$data/chinook/Chinook_Sqlite.sqlite" --pagila "$data/pagila" \
    > "$out/columns_sampled.jsonl"
"$bin/columns" < "$out/columns_sampled.jsonl" > "$out/columns_predicted.jsonl" 2> "$out/columns_time.json"
python3 bench/scan/score_columns.py --labels bench/scan/columns.toml --pred "$out/columns_predicted.jsonl" \
    --out "$out/columns_score.json"
echo "The same, the values alone (no column name, no type)"
"$bin/columns" --values-only < "$out/columns_sampled.jsonl" > "$out/columns_predicted_values_only.jsonl" 2> /dev/null
python3 bench/scan/score_columns.py --labels bench/scan/columns.toml --pred "$out/columns_predicted_values_only.jsonl" \
    --out "$out/columns_score_values_only.json"

python3 - "$out" "$presidio" <<'PY'
import json, sys
from pathlib import Path
out, presidio = Path(sys.argv[1]), sys.argv[2]
def load(p):
    p = Path(p)
    return json.loads(p.read_text()) if p.exists() else None
pres = load(Path(presidio) / "results.json") if presidio != "skipped" else None
types = ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP", "US_SSN", "URL", "PERSON", "LOCATION", "DATE"]
for corpus in ("sentences", "columns"):
    t = load(out / f"pledge_{corpus}_time.json")
    s = load(out / f"pledge_{corpus}_score.json")
    ps = load(out / f"presidio_{corpus}_score.json")
    pt = pres["corpora"][corpus]["throughput"] if pres else None
    print(f"\n## {corpus}: {t['items']} items")
    line = f"throughput, one thread, median of {len(t['passes_s'])}: Pledge {t['items_per_s_median']:,.0f} items/s"
    if pt:
        line += f", Presidio {pt['items_per_s_median']:,.0f} items/s: {t['items_per_s_median'] / pt['items_per_s_median']:.0f}x"
    print(line)
    print("| type | Pledge P | R | F1 | Presidio F1 |")
    print("|---|---:|---:|---:|---:|")
    f = lambda r, k="f1": "-" if r is None or r.get(k) is None else f"{100 * r[k]:.1f}"
    for ty in types + ["micro_structured", "micro_all"]:
        r = s["per_type"][ty] if ty in types else s[ty]
        p = (ps["per_type"][ty] if ty in types else ps[ty]) if ps else None
        print(f"| {ty} | {f(r, 'precision')} | {f(r, 'recall')} | {f(r)} | {f(p)} |")
    s5 = load(out / f"pledge_{corpus}_score_0.5.json")
    p5 = pres["corpora"][corpus].get("metrics_min_score_0.5") if pres else None
    print(f"micro structured F1 with scores below 0.5 dropped: Pledge {f(s5['micro_structured'])}, "
          f"Presidio {f(p5['micro_structured'] if p5 else None)}")
h = load(out / "pledge_heldout_score.json")
if h:
    t = load(out / "pledge_heldout_time.json")
    print(f"\n## held-out column values (bench/scan/heldout.py, Pledge alone): {t['items']} items, "
          f"{t['items_per_s_median']:,.0f} items/s")
    print("| type | P | R | F1 |")
    print("|---|---:|---:|---:|")
    for ty in types + ["micro_structured", "micro_all"]:
        r = h["per_type"][ty] if ty in types else h[ty]
        print(f"| {ty} | {f(r, 'precision')} | {f(r, 'recall')} | {f(r)} |")
    nv = h["none_values"]
    print(f"NONE values: {nv['values']}, flagged with a scored type: {nv['flagged_neutral_type']}")
c = load(out / "columns_score.json")
ct = load(out / "columns_time.json")
print(f"\n## columns of Chinook and Pagila: {c['columns']} columns, {c['labelled']} labelled personal")
print(f"recall {100 * c['recall']:.1f} %, precision {100 * c['precision']:.1f} %, same category {100 * c['category_agreement']:.1f} %; "
      f"{ct['columns_per_s']:,.0f} columns/s ({ct['sampled_values']} sampled values)")
v = load(out / "columns_score_values_only.json")
print(f"values alone (no name, no type): recall {100 * v['recall']:.1f} %, precision {100 * v['precision']:.1f} %")
for k, v in c["false_positives"].items():
    print(f"  flagged, not labelled: {k} ({v})")
for k, v in c["false_negatives"].items():
    print(f"  missed: {k} ({v})")
PY
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results in $out"
