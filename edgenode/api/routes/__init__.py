"""Route tables, one module per area of the API; app.py assembles them."""
