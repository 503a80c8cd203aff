// The dot-product engine: y[r] = sum_k t[r,k] * x[k], row after row, 32 weights per clock, no multipliers.
//
// Why 32: one read of the four SPRAMs side by side is 64 bits = 32 two-bit codes, and 16 EBRs of 16 bits deliver the
// 32 matching int8 activations in the same clock. Every weight of a row is consumed exactly once, so the engine runs
// at the memory's full width; a wider engine would need a second weight port that the UP5K does not have.
//
// Per lane the code selects +x, "not x" (= -x - 1) or 0; the -1s are put back once per word by adding the number of
// negative codes. That makes each lane a row of LUTs with no adder of its own, and leaves one 32-input adder tree,
// pipelined in three stages, and one accumulator. Codes: 00 = -1, 01 = 0, 10 = +1, 11 = reserved (reads as 0).
`default_nettype none

module tmv_engine (
    input  wire         clk,
    input  wire         start,
    input  wire         abort,
    input  wire [13:0]  first_word,   // slot base / 8
    input  wire [11:0]  rows,         // 1..2048
    input  wire [3:0]   blocks,       // padded columns / 256: 1..8
    input  wire         buffer,
    output wire [13:0]  weight_word,
    input  wire [63:0]  weight_data,
    output wire         x_buffer,
    output wire [5:0]   x_word,
    input  wire [255:0] x_data,
    output reg          y_write = 1'b0,
    output reg  [10:0]  y_row = 11'd0,
    output reg  [19:0]  y_value = 20'd0
);
    // Issue: one weight word and one activation word per clock.
    reg        active = 1'b0;
    reg [13:0] word = 14'd0;
    reg [5:0]  column_word = 6'd0;
    reg [10:0] row = 11'd0;
    reg [11:0] rows_left = 12'd0;
    reg        buffer_r = 1'b0;
    // A row is blocks * 8 >= 8 words; row_last is registered (the word before the last is compared with a
    // precomputed index), so no subtractor or comparator sits in front of the issue counters.
    reg [6:0]  before_last = 7'd6;
    reg        row_last = 1'b0;
    reg        rows_end = 1'b0;  // rows_left == 1
    wire [6:0] row_words = {blocks, 3'b000};  // 8 .. 64

    assign weight_word = word;
    assign x_buffer = buffer_r;
    assign x_word = column_word;

    always @(posedge clk) begin
        if (abort) begin
            active <= 1'b0;
        end else if (start) begin
            active <= 1'b1;
            word <= first_word;
            column_word <= 6'd0;
            row <= 11'd0;
            rows_left <= rows;
            rows_end <= rows == 12'd1;
            before_last <= row_words - 7'd2;
            row_last <= 1'b0;
            buffer_r <= buffer;
        end else if (active) begin
            word <= word + 14'd1;
            if (row_last) begin
                column_word <= 6'd0;
                row_last <= 1'b0;
                row <= row + 11'd1;
                rows_left <= rows_left - 12'd1;
                rows_end <= rows_left == 12'd2;
                if (rows_end)
                    active <= 1'b0;
            end else begin
                column_word <= column_word + 6'd1;
                row_last <= {1'b0, column_word} == before_last;
            end
        end
    end

    // Stage 1: the memories answer one clock after the address.
    reg        v1 = 1'b0, first1 = 1'b0, last1 = 1'b0;
    reg [10:0] row1 = 11'd0;
    always @(posedge clk) begin
        v1 <= active && !abort;
        first1 <= column_word == 6'd0;
        last1 <= row_last;
        row1 <= row;
    end

    // Stage 2: select per lane; note the negative codes.
    reg [9*32-1:0] terms = 0;
    reg [31:0]     negative = 32'd0;
    reg            v2 = 1'b0, first2 = 1'b0, last2 = 1'b0;
    reg [10:0]     row2 = 11'd0;
    integer l;
    reg [1:0] code;
    reg [8:0] x9;
    always @(posedge clk) begin
        for (l = 0; l < 32; l = l + 1) begin
            // Lane 8q+i: byte i of the word, bits 2q+1..2q.
            code = weight_data[8 * (l % 8) + 2 * (l / 8) +: 2];
            x9 = {x_data[8 * l + 7], x_data[8 * l +: 8]};
            terms[9 * l +: 9] <= code == 2'b10 ? x9 : code == 2'b00 ? ~x9 : 9'd0;
            negative[l] <= code == 2'b00;
        end
        v2 <= v1 && !abort;
        first2 <= first1;
        last2 <= last1;
        row2 <= row1;
    end

    // One LUT per output bit (an adder chain would be four levels deep).
    function [2:0] popcount4;
        input [3:0] b;
        reg low, high, carry;
        begin
            low = b[0] ^ b[1];
            high = b[2] ^ b[3];
            carry = low & high;
            popcount4 = {(b[0] & b[1] & b[2] & b[3]) | (((b[0] & b[1]) ^ (b[2] & b[3])) & carry),
                         (b[0] & b[1]) ^ (b[2] & b[3]) ^ carry, low ^ high};
        end
    endfunction

    // Stages 3 to 5: a balanced adder tree, two levels of adders per clock (48 MHz on the UP5K): 32 terms -> 8 -> 2
    // -> the word's sum; the negative codes are counted alongside (32 -> 4 -> 1).
    reg [11*8-1:0] eighth = 0;
    reg [3:0]      negatives3 [0:3];
    reg            v3 = 1'b0, first3 = 1'b0, last3 = 1'b0;
    reg [10:0]     row3 = 11'd0;
    integer q;
    always @(posedge clk) begin
        for (q = 0; q < 8; q = q + 1)
            eighth[11 * q +: 11] <= ({{2{terms[9 * (4 * q) + 8]}}, terms[9 * (4 * q) +: 9]}
                                   + {{2{terms[9 * (4 * q + 1) + 8]}}, terms[9 * (4 * q + 1) +: 9]})
                                  + ({{2{terms[9 * (4 * q + 2) + 8]}}, terms[9 * (4 * q + 2) +: 9]}
                                   + {{2{terms[9 * (4 * q + 3) + 8]}}, terms[9 * (4 * q + 3) +: 9]});
        for (q = 0; q < 4; q = q + 1)
            negatives3[q] <= {1'b0, popcount4(negative[8 * q +: 4])} + {1'b0, popcount4(negative[8 * q + 4 +: 4])};
        v3 <= v2 && !abort;
        first3 <= first2;
        last3 <= last2;
        row3 <= row2;
    end

    reg [13*2-1:0] half = 0;
    reg [5:0]      negatives4 = 6'd0;
    reg            v4 = 1'b0, first4 = 1'b0, last4 = 1'b0;
    reg [10:0]     row4 = 11'd0;
    integer h;
    always @(posedge clk) begin
        for (h = 0; h < 2; h = h + 1)
            half[13 * h +: 13] <= ({{2{eighth[11 * (4 * h) + 10]}}, eighth[11 * (4 * h) +: 11]}
                                 + {{2{eighth[11 * (4 * h + 1) + 10]}}, eighth[11 * (4 * h + 1) +: 11]})
                                + ({{2{eighth[11 * (4 * h + 2) + 10]}}, eighth[11 * (4 * h + 2) +: 11]}
                                 + {{2{eighth[11 * (4 * h + 3) + 10]}}, eighth[11 * (4 * h + 3) +: 11]});
        negatives4 <= ({2'd0, negatives3[0]} + {2'd0, negatives3[1]}) + ({2'd0, negatives3[2]} + {2'd0, negatives3[3]});
        v4 <= v3 && !abort;
        first4 <= first3;
        last4 <= last3;
        row4 <= row3;
    end

    reg [19:0] word_sum = 20'd0;
    reg        v5 = 1'b0, first5 = 1'b0, last5 = 1'b0;
    reg [10:0] row5 = 11'd0;
    always @(posedge clk) begin
        word_sum <= ({{7{half[12]}}, half[12:0]} + {{7{half[25]}}, half[25:13]}) + {14'd0, negatives4};
        v5 <= v4 && !abort;
        first5 <= first4;
        last5 <= last4;
        row5 <= row4;
    end

    // Stage 6: into the row's accumulator; the row's result leaves on its last word.
    reg [19:0] accumulator = 20'd0;
    wire [19:0] row_sum = (first5 ? 20'd0 : accumulator) + word_sum;
    always @(posedge clk) begin
        y_write <= 1'b0;
        if (v5 && !abort) begin
            accumulator <= row_sum;
            if (last5) begin
                y_write <= 1'b1;
                y_row <= row5;
                y_value <= row_sum;
            end
        end
    end
endmodule

`default_nettype wire
