"""The science: data, features, the walk-forward plan, models, trading rules, statistics, the
selection, the verdict and its gate, the reports. Pure functions on frames and arrays; no I/O beyond
reading the price sources."""
