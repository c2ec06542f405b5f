# SPDX-License-Identifier: MIT
#
# bench/plot.gp - one clustered bar chart from a .dat file that report.c
# wrote: first line "label impl1 impl2 ...", then one row per x group,
# "-" for a missing value. bench/run.sh calls it once per file:
#   gnuplot -e "infile='a.dat'; outfile='a.png'; ttl='...'; ylab='...';
#               ncol=5" bench/plot.gp
# The y axis is logarithmic: the systems differ by orders of magnitude.
set terminal pngcairo size 1000,560 noenhanced font "sans,10"
set output outfile
set title ttl noenhanced
set ylabel ylab
set datafile missing "-"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics mytics
set key outside right top noenhanced
set xtics noenhanced
set border 3
set tics nomirror
plot for [i=2:ncol] infile using i:xtic(1) title columnheader(i)
