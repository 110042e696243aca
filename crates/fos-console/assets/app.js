// placeholder until the views are written
