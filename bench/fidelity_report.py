#!/usr/bin/env python3
"""Fidelity tables and plot from bench/results/fidelity.csv.

    fidelity_report.py CSV OUTDIR

A run is (tag, model, optimizer, epochs, seed, setting); the newest row of
each is kept.  For every (tag, model, optimizer, epochs) and setting the
report gives the mean test accuracy over the seeds, the gap to dense as the
mean of the per-seed differences (compressed minus dense on the same seed)
with their standard deviation and the number of seeds, and the mean
whole-run byte ratio.

Writes OUTDIR/fidelity.md (a Markdown table per tag), OUTDIR/fidelity.png
(with gnuplot: the gap against training length, one panel per tag, model
and optimizer, one line per setting) and OUTDIR/fidelity-bytes.png (the
gap against the whole run's byte ratio, one panel per tag, model,
optimizer and length that compares three settings or more: methods at
equal bytes sit on one vertical line).  Prints the tables.
"""
import csv
import math
import os
import shutil
import subprocess
import sys
import tempfile

# The order settings appear in, when present; others follow in file order.
ORDER = ["dense", "defaults", "scalecom100", "scalecom400",
         "scalecom100-fp16", "scalecom100-beta0.1", "adacomp", "topk100"]


def load(path):
    runs = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            key = (row["tag"], row["model"], row["opt"], int(row["epochs"]),
                   row.get("seed") or "1", row["setting"])
            runs[key] = row  # newest wins
    return runs


def mean_sd(xs):
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, float("nan")
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def summarize(runs):
    """{(tag, model, opt, epochs): {setting: summary}}"""
    groups = {}
    for (tag, model, opt, ep, seed, setting), row in runs.items():
        groups.setdefault((tag, model, opt, ep), {}).setdefault(
            setting, {})[seed] = row
    out = {}
    for g, per in groups.items():
        dense = per.get("dense", {})
        summ = {}
        for setting, seeds in per.items():
            accs = [float(r["test_acc"]) for r in seeds.values()]
            gaps = [float(r["test_acc"]) - float(dense[s]["test_acc"])
                    for s, r in seeds.items() if s in dense]
            ratios = [float(r["byte_ratio"]) for r in seeds.values()
                      if r.get("byte_ratio")]
            summ[setting] = {
                "acc": mean_sd(accs)[0], "n": len(accs),
                "gap": mean_sd(gaps) if gaps and setting != "dense" else None,
                "ngap": len(gaps),
                "ratio": sum(ratios) / len(ratios) if ratios else None,
            }
        out[g] = summ
    return out


def settings_of(runs):
    seen = []
    for key in runs:
        if key[5] not in seen:
            seen.append(key[5])
    return sorted(seen, key=lambda s: (ORDER.index(s) if s in ORDER
                                       else len(ORDER), seen.index(s)))


def cell(s):
    if s is None:
        return ""
    text = "%.2f" % s["acc"]
    if s["gap"] is not None:
        m, sd = s["gap"]
        text += " (%+.2f" % m
        if not math.isnan(sd):
            text += " ± %.2f" % sd
        text += ")"
    if s["ratio"] is not None:
        text += ", %.1fx" % s["ratio"]
    if s["n"] > 1:
        text += " [%d]" % s["n"]
    return text


def tables(summ, runs, settings):
    lines = []
    for tag in sorted({g[0] for g in summ}):
        keys = sorted(g for g in summ if g[0] == tag)
        cols = [s for s in settings if any(s in summ[g] for g in keys)]
        some = next(r for k, r in runs.items() if k[0] == tag)
        lines.append("**%s**: %s ranks, global batch %s, training set %s" %
                     (tag, some["ranks"], some["batch"], some["subset"]))
        lines.append("")
        lines.append("| model | optimizer | epochs | " + " | ".join(cols) +
                     " |")
        lines.append("|---|---|---|" + "---|" * len(cols))
        for g in keys:
            row = [g[1], g[2], str(g[3])]
            row += [cell(summ[g].get(s)) for s in cols]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines.append(
        "Test accuracy (%) after the last epoch, the mean over the seeds; in "
        "brackets the mean difference from dense on the same seeds ± its "
        "standard deviation; then the whole run's byte ratio (bytes a ring "
        "all-reduce of the compressed tensors carries / bytes sent); [n]: "
        "seeds, where more than one.  Each length is a run of its own with "
        "the learning rate decaying to 0 at its end.")
    return "\n".join(lines) + "\n"


def plot(summ, settings, png):
    if shutil.which("gnuplot") is None:
        print("fidelity_report: no gnuplot: no plot", file=sys.stderr)
        return
    panels = sorted({g[:3] for g in summ})
    comp = [s for s in settings if s != "dense"]
    cols = int(math.ceil(math.sqrt(len(panels))))
    rows = int(math.ceil(len(panels) / cols))
    tmp = tempfile.mkdtemp()
    script = ["set terminal pngcairo size %d,%d font ',9' noenhanced" %
              (460 * cols, 360 * rows + 60),
              "set output '%s'" % png,
              "set grid",
              "set xlabel 'training length (epochs)'",
              "set ylabel 'test accuracy - dense (points)'",
              "set key bottom right font ',8'",
              "set offsets 0.3, 0.3, 0.2, 0.2",
              "set multiplot layout %d,%d" % (rows, cols)]
    for i, p in enumerate(panels):
        keys = sorted(g for g in summ if g[:3] == p)
        lens = [g[3] for g in keys]
        here = [s for s in comp if any(s in summ[g] and summ[g][s]["gap"]
                                       for g in keys)]
        dat = os.path.join(tmp, "%d.dat" % i)
        with open(dat, "w") as f:
            for s in here:
                f.write("# %s\n" % s)
                for g in keys:
                    v = summ[g].get(s)
                    if v and v["gap"]:
                        sd = v["gap"][1]
                        f.write("%d %.3f %.3f\n" % (
                            g[3], v["gap"][0], 0.0 if math.isnan(sd) else sd))
                f.write("\n\n")
        script.append("set title '%s %s %s'" % p)
        script.append("set xrange [%g:%g]" % (min(lens) - 0.5,
                                              max(lens) + 0.5))
        if here:
            parts = ["'%s' index %d using 1:2:3 with yerrorlines title '%s'" %
                     (dat, j, s) for j, s in enumerate(here)]
            script.append("plot " + ", ".join(parts) +
                          ", 0 notitle lc 'black'")
        else:
            script.append("plot 0 notitle lc 'black'")
    script.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True,
                   check=True)
    shutil.rmtree(tmp)


def plot_bytes(summ, png):
    if shutil.which("gnuplot") is None:
        return
    groups = sorted(g for g, per in summ.items()
                    if sum(1 for v in per.values()
                           if v["gap"] and v["ratio"]) >= 3)
    if not groups:
        return
    cols = int(math.ceil(math.sqrt(len(groups))))
    rows = int(math.ceil(len(groups) / cols))
    tmp = tempfile.mkdtemp()
    script = ["set terminal pngcairo size %d,%d font ',9' noenhanced" %
              (520 * cols, 380 * rows + 40),
              "set output '%s'" % png, "set grid", "set logscale x",
              "set xlabel 'whole-run byte ratio (x)'",
              "set ylabel 'test accuracy - dense (points)'",
              "set offsets graph 0.1, graph 0.25, graph 0.1, graph 0.1",
              "set multiplot layout %d,%d" % (rows, cols)]
    for i, g in enumerate(groups):
        dat = os.path.join(tmp, "%d.dat" % i)
        with open(dat, "w") as f:
            for setting, v in summ[g].items():
                if v["gap"] and v["ratio"]:
                    sd = v["gap"][1]
                    f.write("%.2f %.3f %.3f \"%s\"\n" % (
                        v["ratio"], v["gap"][0], 0.0 if math.isnan(sd) else sd,
                        setting))
        script.append("set title '%s %s %s, %d epochs'" % g)
        script.append("plot '%s' using 1:2:3 with yerrorbars notitle pt 7, "
                      "'' using 1:2:4 with labels offset 0,1 notitle, "
                      "0 notitle lc 'black'" % dat)
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
    summ = summarize(runs)
    text = tables(summ, runs, settings)
    with open(os.path.join(sys.argv[2], "fidelity.md"), "w") as f:
        f.write(text)
    print(text)
    plot(summ, settings, os.path.join(sys.argv[2], "fidelity.png"))
    plot_bytes(summ, os.path.join(sys.argv[2], "fidelity-bytes.png"))


if __name__ == "__main__":
    main()
