"""What a person reads: trials.csv and pareto.csv, the Pareto plot, and `hwnas report`."""
