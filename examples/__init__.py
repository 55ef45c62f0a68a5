"""Client-side recipes for the people who read the rotated secret (not deployed)."""
