#!/usr/bin/env python3
"""Writes N random points as CSV in the peer's input format, for trying the
peer without building chiiki (the real benchmark data comes from
`cargo run --release --example bench_layer -- ... --csv FILE`).

    python3 bench/peer/make_points_csv.py N OUT.csv [--seed S]

Header: fid,lon,lat,age,name,score,flag,registered; points uniform over
lon 139.70-139.80, lat 35.68-35.75.
"""
import argparse
import csv
import datetime
import random

SURNAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    epoch = datetime.date(1970, 1, 1)
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["fid", "lon", "lat", "age", "name", "score", "flag", "registered"])
        for fid in range(1, args.n + 1):
            w.writerow([
                fid,
                round(rng.uniform(139.70, 139.80), 7),
                round(rng.uniform(35.68, 35.75), 7),
                rng.randrange(100),
                f"{rng.choice(SURNAMES)}{rng.randrange(1, 10000)}",
                round(rng.random() * 1000, 3),
                "true" if rng.random() < 0.04 else "false",
                (epoch + datetime.timedelta(days=rng.randrange(7000, 20000))).isoformat(),
            ])


if __name__ == "__main__":
    main()
