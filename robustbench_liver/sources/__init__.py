"""Where healthy base scans come from: the built-in phantom, or the user's own CT."""
