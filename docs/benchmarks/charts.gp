set terminal pngcairo size 900,560 font ",10"
set output "/work/main/docs/benchmarks/threads.png"
set title "Throughput vs threads (MB/s, medians, warm page cache)"
set xlabel "threads"; set ylabel "MB/s"
set xrange [0.8:2.2]; set xtics 1; set yrange [0:*]; unset logscale y
set key outside right; set grid
plot "/work/main/docs/benchmarks/threads.dat" index 0 using 1:2 with linespoints lw 2 title columnheader(1), "/work/main/docs/benchmarks/threads.dat" index 1 using 1:2 with linespoints lw 2 title columnheader(1), "/work/main/docs/benchmarks/threads.dat" index 2 using 1:2 with linespoints lw 2 title columnheader(1), "/work/main/docs/benchmarks/threads.dat" index 3 using 1:2 with linespoints lw 2 title columnheader(1), "/work/main/docs/benchmarks/threads.dat" index 4 using 1:2 with linespoints lw 2 title columnheader(1), "/work/main/docs/benchmarks/threads.dat" index 5 using 1:2 with linespoints lw 2 title columnheader(1), "/work/main/docs/benchmarks/threads.dat" index 6 using 1:2 with linespoints lw 2 title columnheader(1)
set terminal pngcairo size 1000,560 font ",10"
set output "/work/main/docs/benchmarks/anchors.png"
set title "cmhash vs anchors: MB/s by corpus shape (medians; higher is better)"
set style data histograms; set style histogram clustered gap 1
set style fill solid 0.8 border -1; set boxwidth 0.9
set xtics rotate by -30; set ylabel "MB/s (log scale)"
set logscale y; set yrange [*:*]; set datafile missing "?"
set xrange [*:*]; unset xlabel; set key top right; set grid y
plot for [i=2:5] "/work/main/docs/benchmarks/anchors.dat" using i:xtic(1) title columnheader(i)
