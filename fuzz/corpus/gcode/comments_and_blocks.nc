%
(comments and blocks)

; semicolon comment
/N5 G0 X1.
g0x1.y2.z3.
N10G1X.5Y-.25F100.(inline)Z-1.;tail
   	  
(a)(b)(c)
%
