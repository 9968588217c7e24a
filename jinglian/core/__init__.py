"""What every package of jinglian stands on; imports no Ray."""
