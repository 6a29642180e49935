#!/usr/bin/env bash
# Geocoding benchmark: builds the reference index (all towns of Japan + the
# ABR of 文京区, 和歌山市, 屋久島町), then geocodes 1,000,000 registry-like
# rows end to end (read CSV, geocode, write CSV) with `chiiki geocode`.
#
#   bench/geocode.sh                    # prints a Markdown table for the README
#
# The rows are real ABR addresses of 文京区 and 和歌山市 (住居表示 and 地番),
# written in a mix of styles (漢数字, 全角, hyphens, 丁目 omitted, buildings),
# as many residents per address as a registry has.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
REAL="${CHIIKI_REAL_DATA:-../shared/data/real}"
WORK="${BENCH_DIR:-$(mktemp -d /tmp/chiiki-geocode.XXXX)}"
mkdir -p "$WORK"
ROWS="${ROWS:-1000000}"
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release --quiet --bin chiiki
BIN="$CARGO_TARGET_DIR/release/chiiki"

/usr/bin/time -f "%e %M" -o "$WORK/build.time" "$BIN" reference build -o "$WORK/reference.chiiki" >/dev/null
python3 - "$REAL" "$WORK/registry.csv" "$ROWS" "$WORK/registry_one_style.csv" <<'PY'
import csv, io, random, sys, zipfile
real, out, n, out_one = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def rows(path):
    z = zipfile.ZipFile(path)
    return list(csv.DictReader(io.TextIOWrapper(z.open(z.namelist()[0]), "utf-8")))
kan = "〇一二三四五六七八九"
def kanji(n):
    t, o = divmod(int(n), 10)
    return (kan[t] if t > 1 else "") + ("十" if t else "") + (kan[o] if o else "") or "〇"
def chome(c):
    c = c.translate(str.maketrans("０１２３４５６７８９", "0123456789")).replace("丁目", "")
    return int(c) if c.isdigit() else None
fw = str.maketrans("0123456789-", "０１２３４５６７８９－")
addrs = []
for r in rows(f"{real}/abr/bunkyo-131059/mt_rsdtdsp_rsdt_bunkyo.csv.zip"):
    addrs.append(("東京都", "文京区", r["oaza_cho"], chome(r["chome"]), [r["blk_num"], r["rsdt_num"]]))
for r in rows(f"{real}/abr/wakayama-302015/mt_rsdtdsp_rsdt_wakayama.csv.zip"):
    addrs.append(("和歌山県", "和歌山市", r["oaza_cho"], chome(r["chome"]), [r["blk_num"], r["rsdt_num"]]))
parcels = rows(f"{real}/abr/wakayama-302015/mt_parcel_city302015.csv.zip")
random.seed(20261122)
for r in random.sample(parcels, 40000):
    nums = [x for x in (r["prc_num1"], r["prc_num2"], r["prc_num3"]) if x]
    addrs.append(("和歌山県", "和歌山市", r["oaza_cho"], chome(r["chome"]), nums, "parcel"))
def render(a, style):
    pref, city, oaza, ch, nums = a[:5]
    parcel = len(a) > 5
    town = oaza + (f"{kanji(ch)}丁目" if ch else "")
    if style == 0:
        if parcel:
            tail = nums[0] + "番地" + "の".join(nums[1:])
        else:
            tail = f"{nums[0]}番{nums[1]}号"
        return pref + city + town + tail
    if style == 1:
        return city + town + "-".join(nums)
    if style == 2:
        return (pref + city + oaza + (f"{ch}-" if ch else "") + "-".join(nums)).translate(fw)
    if style == 3:
        return pref + " " + city + " " + town + " " + "-".join(nums) + " メゾン" + oaza + "201号室"
    return city + oaza + (f"{ch}丁目" if ch else "") + "ー".join(nums)
with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["住民票コード", "世帯番号", "住所", "方書"])
    for i in range(n):
        a = addrs[(i * 7919) % len(addrs)] if i % 3 else random.choice(addrs)
        w.writerow([f"{100000000 + i}", f"{5000000 + i // 2}", render(a, i % 5), ""])
# The same addresses, each written one way (as a registry system that
# stores them normalised would): far fewer distinct strings.
with open(out_one, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["住民票コード", "世帯番号", "住所", "方書"])
    for i in range(n):
        a = addrs[(i * 7919) % len(addrs)]
        w.writerow([f"{100000000 + i}", f"{5000000 + i // 2}", render(a, 0), ""])
PY
# Wall-clock time of the whole process (load, read, geocode, write, report)
# and its peak resident memory, best of three.
for run in 1 2 3; do
  /usr/bin/time -f "%e %M" -o "$WORK/geocode.$run.time" \
    "$BIN" geocode "$WORK/registry.csv" --reference "$WORK/reference.chiiki" -o "$WORK/out.csv" 2>"$WORK/geocode.$run.log"
  /usr/bin/time -f "%e %M" -o "$WORK/one.$run.time" \
    "$BIN" geocode "$WORK/registry_one_style.csv" --reference "$WORK/reference.chiiki" -o "$WORK/out_one.csv" 2>"$WORK/one.$run.log"
done
best_wall() { for f in "$@"; do cut -d' ' -f1 "$f"; done | sort -n | head -1; }
max_rss_mb() { for f in "$@"; do cut -d' ' -f2 "$f"; done | sort -n | tail -1 | awk '{printf "%d", $1 / 1024}'; }
wall=$(best_wall "$WORK"/geocode.*.time)
wall_one=$(best_wall "$WORK"/one.*.time)
rss=$(max_rss_mb "$WORK"/geocode.*.time)
rss_one=$(max_rss_mb "$WORK"/one.*.time)
best=$(awk -v n="$ROWS" -v t="$wall" 'BEGIN { printf "%d", n / t }')
best_one=$(awk -v n="$ROWS" -v t="$wall_one" 'BEGIN { printf "%d", n / t }')
# As the command reports it: from loading the index to the report built,
# without the process's start (linking GDAL) and exit.
reported=$(grep -ho '[0-9]* rows/s' "$WORK"/geocode.*.log | sort -n | tail -1)
distinct=$(grep -ho '([0-9]* distinct' "$WORK/geocode.1.log" | tr -dc '0-9')
distinct_one=$(grep -ho '([0-9]* distinct' "$WORK/one.1.log" | tr -dc '0-9')
read -r build_s build_kb < "$WORK/build.time"
/usr/bin/time -f "%M" -o "$WORK/load.mem" "$BIN" geocode <(printf '住所\n文京区白山1-1-1\n') --reference "$WORK/reference.chiiki" >/dev/null 2>"$WORK/load.log"
load=$(grep -o 'index loaded in [0-9.]*[mµ]*s' "$WORK/load.log" | awk '{print $4}')
cat <<MD
Geocoding benchmark $(date -u +%Y-%m-%d), $(nproc) cores.

| measure | chiiki |
|---|---|
| build the reference index (all towns of Japan + 3 cities' ABR) | ${build_s} s, $(du -h "$WORK/reference.chiiki" | cut -f1) file |
| load the index | ${load}, $(( $(cat "$WORK/load.mem") / 1024 )) MB resident (whole process) |
| ${ROWS} registry rows in 5 writing styles (${distinct} distinct strings), whole process: load, read, geocode, write CSV and report (best of 3) | ${best} rows/s (${wall} s), ${rss} MB peak |
| the same, as \`chiiki geocode\` reports it (index load to report, best of 3) | ${reported} |
| ${ROWS} registry rows, one writing style (${distinct_one} distinct strings) | ${best_one} rows/s (${wall_one} s), ${rss_one} MB peak |

Levels of the benchmark rows:
\`\`\`
$(sed -n '2,9p' "$WORK/geocode.1.log")
\`\`\`
MD
