"""The console's screens: fleet, heatmap, node, events, run, help, command line."""
