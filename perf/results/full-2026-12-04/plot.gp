set terminal pngcairo size 900,560 noenhanced
set output 'perf/results/full-2026-12-04/throughput-vs-concurrency.png'
set title 'Throughput vs concurrency (5 KB mix, smtp-source -> private Postfix -> smtp-sink)'
set xlabel 'concurrent smtp-source sessions'
set ylabel 'messages/s (median)'
set logscale x
set xtics (1, 2, 5, 10, 20)
set grid
set key outside right
plot 'perf/results/full-2026-12-04/sweep.dat' index 0 using 1:2 with linespoints title 'bare', 'perf/results/full-2026-12-04/sweep.dat' index 1 using 1:2 with linespoints title 'null', 'perf/results/full-2026-12-04/sweep.dat' index 2 using 1:2 with linespoints title 'scand', 'perf/results/full-2026-12-04/sweep.dat' index 3 using 1:2 with linespoints title 'scand-rules', 'perf/results/full-2026-12-04/sweep.dat' index 4 using 1:2 with linespoints title 'proxsmtp', 'perf/results/full-2026-12-04/sweep.dat' index 5 using 1:2 with linespoints title 'amavisd'
