// One accumulator step at W bits, both overflow modes of docs/semantics.md:
// the exact (W+1)-bit sum of two W-bit signed values, then wrapped (low W
// bits) or saturated (clamped to [-2^(W-1), 2^(W-1)-1]).
module acc_overflow #(
    parameter integer W = 6
) (
    input  wire signed [W-1:0] a,
    input  wire signed [W-1:0] b,
    output wire signed [W-1:0] wrapped,
    output wire signed [W-1:0] saturated
);
    wire signed [W:0] sum = a + b;
    localparam signed [W:0] HI = (1 <<< (W - 1)) - 1;
    localparam signed [W:0] LO = -(1 <<< (W - 1));
    assign wrapped = sum[W-1:0];
    assign saturated = (sum > HI) ? HI[W-1:0] : (sum < LO) ? LO[W-1:0] : sum[W-1:0];
endmodule
