#!/usr/bin/env python3
"""Fidelity table and plot from bench/results/fidelity.csv.

    fidelity_report.py CSV OUTDIR

For every (tag, model, optimizer) the newest run of each setting is kept.
Writes OUTDIR/fidelity.md (a Markdown table per tag: final test accuracy of
every setting and its difference from dense, the byte ratio of the
compressed runs) and OUTDIR/fidelity.png (the differences from dense, one
panel per tag) with gnuplot.  Prints the tables.
"""
import csv
import os
import shutil
import subprocess
import sys
import tempfile

# The order settings appear in, when present; others follow in file order.
ORDER = ["dense", "scalecom100", "scalecom400", "scalecom100-fp16",
         "scalecom100-beta0.1", "adacomp", "topk100"]


def load(path):
    runs = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            key = (row["tag"], row["model"], row["opt"])
            runs.setdefault(key, {})[row["setting"]] = row  # newest wins
    return runs


def settings_of(runs):
    seen = []
    for per in runs.values():
        for s in per:
            if s not in seen:
                seen.append(s)
    return sorted(seen, key=lambda s: (ORDER.index(s) if s in ORDER
                                       else len(ORDER), seen.index(s)))


def cell(row, dense):
    acc = float(row["test_acc"])
    if row["setting"] == "dense" or dense is None:
        return "%.2f" % acc
    text = "%.2f (%+.2f)" % (acc, acc - float(dense["test_acc"]))
    if row.get("byte_ratio"):
        text += ", %sx" % row["byte_ratio"]
    return text


def tables(runs, settings):
    lines = []
    for tag in sorted({k[0] for k in runs}):
        keys = sorted(k for k in runs if k[0] == tag)
        cols = [s for s in settings if any(s in runs[k] for k in keys)]
        first = runs[keys[0]]
        some = next(iter(first.values()))
        lines.append("**%s**: %s ranks, global batch %s, %s epochs, "
                     "training set %s" % (tag, some["ranks"], some["batch"],
                                          some["epochs"], some["subset"]))
        lines.append("")
        lines.append("| model | optimizer | " + " | ".join(cols) + " |")
        lines.append("|---|---|" + "---|" * len(cols))
        for k in keys:
            per = runs[k]
            dense = per.get("dense")
            row = [k[1], k[2]]
            for s in cols:
                row.append(cell(per[s], dense) if s in per else "")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines.append("Test accuracy (%) after the last epoch; in brackets the "
                 "difference from dense, then the byte ratio (bytes a ring "
                 "all-reduce of the compressed tensors carries / bytes sent).")
    return "\n".join(lines) + "\n"


def plot(runs, settings, png):
    if shutil.which("gnuplot") is None:
        print("fidelity_report: no gnuplot: no plot", file=sys.stderr)
        return
    tags = sorted({k[0] for k in runs})
    comp = [s for s in settings if s != "dense"]
    tmp = tempfile.mkdtemp()
    script = ["set terminal pngcairo size %d,460 font ',9'" % (520 * len(tags)),
              "set output '%s'" % png,
              "set style data histograms",
              "set style histogram cluster gap 1",
              "set style fill solid 0.8 border -1",
              "set boxwidth 0.9",
              "set grid ytics",
              "set ylabel 'test accuracy - dense (points)'",
              "set xtics rotate by -30 scale 0",
              "set key below",
              "set yrange [*:1]",
              "set multiplot layout 1,%d" % len(tags)]
    for i, tag in enumerate(tags):
        keys = sorted(k for k in runs if k[0] == tag)
        cols = [s for s in comp if any(s in runs[k] for k in keys)]
        dat = os.path.join(tmp, "%d.dat" % i)
        with open(dat, "w") as f:
            f.write("run " + " ".join(cols) + "\n")
            for k in keys:
                per = runs[k]
                d = per.get("dense")
                vals = []
                for s in cols:
                    if d is None or s not in per:
                        vals.append("NaN")
                    else:
                        vals.append("%.3f" % (float(per[s]["test_acc"]) -
                                              float(d["test_acc"])))
                f.write("%s-%s %s\n" % (k[1], k[2], " ".join(vals)))
        script.append("set title '%s'" % tag)
        parts = ["'%s' using %d:xtic(1) title '%s'" % (dat, j + 2, s)
                 for j, s in enumerate(cols)]
        script.append("plot " + ", ".join(parts) + ", 0 notitle lc 'black'")
    script.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True,
                   check=True)
    shutil.rmtree(tmp)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: fidelity_report.py CSV OUTDIR")
    runs = load(sys.argv[1])
    if not runs:
        sys.exit("fidelity_report: %s has no runs" % sys.argv[1])
    settings = settings_of(runs)
    text = tables(runs, settings)
    with open(os.path.join(sys.argv[2], "fidelity.md"), "w") as f:
        f.write(text)
    print(text)
    plot(runs, settings, os.path.join(sys.argv[2], "fidelity.png"))


if __name__ == "__main__":
    main()
