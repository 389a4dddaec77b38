#!/usr/bin/env python3
"""Table and plot of one bench/tta.sh run.

    tta_report.py CSV RUN RUNDIR PNG

RUN is the run id (the CSV's run column); RUNDIR holds each training run's
per-epoch CSV (the CSV's file column).  Prints the run's table (time to
dense's plateau accuracy first) and plots test accuracy against training
time, dense and every preloaded run on one axis, one panel per rate, with
the target as a dashed line (gnuplot).
"""
import csv
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: tta_report.py CSV RUN RUNDIR PNG")
    path, run, rundir, png = sys.argv[1:]
    rows = [r for r in csv.DictReader(open(path)) if r["run"] == run]
    if not rows:
        sys.exit("tta_report: no rows of run %s in %s" % (run, path))
    rates = list(dict.fromkeys(r["rate"] for r in rows))
    print("| rate | run | epochs | time to %s's accuracy (s) | speedup | "
          "epoch (s) | final acc | gap | byte ratio |" % "dense")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["rate"], r["setting"], r["epochs"],
            r["time_to_target_s"] or "not reached", r["speedup"] or "-",
            r["epoch_s"], r["final_acc"], r["gap"], r["byte_ratio"] or "-"))
    if shutil.which("gnuplot") is None:
        print("tta_report: no gnuplot: no plot", file=sys.stderr)
        return
    tmp = tempfile.mkdtemp()
    script = ["set terminal pngcairo size %d,440 font ',9' noenhanced" %
              (560 * len(rates)), "set output '%s'" % png, "set grid",
              "set xlabel 'training time (s)'",
              "set ylabel 'test accuracy (%)'", "set key bottom right",
              "set multiplot layout 1,%d" % len(rates)]
    for i, rate in enumerate(rates):
        here = [r for r in rows if r["rate"] == rate]
        target = float(here[0]["target_acc"])
        parts = []
        for j, r in enumerate(here):
            dat = os.path.join(tmp, "%d-%d.dat" % (i, j))
            with open(dat, "w") as f:
                t = 0.0
                f.write("0 NaN\n")
                for e in csv.DictReader(open(os.path.join(
                        rundir, r["file"] + ".csv"))):
                    t += float(e["seconds"])  # the epoch's seconds
                    f.write("%.3f %s\n" % (t, e["test_acc"]))
            title = "dense" if r["setting"] == "dense" else \
                "libcompcoll %s, %s ep" % (r["setting"], r["epochs"])
            parts.append("'%s' using 1:2 with linespoints title '%s'" %
                         (dat, title))
        parts.append("%f with lines dt 2 lc 'black' title \"dense's "
                     "accuracy\"" % target)
        script.append("set title '%s hosts, %s, %s %s'" % (
            here[0]["hosts"], rate, here[0]["model"], here[0]["opt"]))
        script.append("set yrange [%f:%f]" % (target - 6, target + 1.5))
        script.append("plot " + ", ".join(parts))
    script.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True,
                   check=True)
    shutil.rmtree(tmp)
    print("plot: %s" % png)


if __name__ == "__main__":
    main()
