G21 G90
G0 X1. (unclosed
