// Directed test bench for iverilog: the SPI slave and a few commands, driven as a mode-0 master would (4 fabric
// clocks per bit, CS high for a few clocks between frames). The C# co-simulation covers every command and error;
// this bench needs only iverilog and checks the wire-level basics: status bytes, INFO, a header CRC error reported
// by GET_ERR, CLEAR_ERR. It prints PASS tmv_core_tb or one FAIL line per check (eng/ci-fpga.sh looks for PASS):
//   iverilog -g2005 -Ifpga/rtl -s tmv_core_tb -o tb fpga/tb/tmv_core_tb.v fpga/rtl/tmv_*.v && vvp -n tb
`timescale 1ns / 1ps
`default_nettype none

module tmv_core_tb;
`include "tmv_crc.vh"
    reg clk = 1'b0, sclk = 1'b0, cs_n = 1'b1, mosi = 1'b0;
    wire miso, busy, error;
    tmv_core dut (.clk(clk), .sclk(sclk), .cs_n(cs_n), .mosi(mosi), .miso(miso), .busy_led(busy), .error_led(error));
    always #10 clk = ~clk;

    reg [7:0] tx [0:63];
    reg [7:0] rx [0:63];
    integer failures = 0;

    task clocks;
        input integer n;
        integer i;
        for (i = 0; i < n; i = i + 1) @(posedge clk);
    endtask

    // One chip-select frame of n bytes from tx, MISO into rx.
    task frame;
        input integer n;
        integer b, i;
        begin
            @(negedge clk) cs_n = 1'b0;
            for (b = 0; b < n; b = b + 1) begin
                rx[b] = 8'd0;
                for (i = 7; i >= 0; i = i - 1) begin
                    @(negedge clk) begin sclk = 1'b0; mosi = tx[b][i]; end
                    @(negedge clk);
                    @(negedge clk) begin sclk = 1'b1; rx[b][i] = miso; end
                    @(negedge clk);
                end
            end
            @(negedge clk) begin sclk = 1'b0; cs_n = 1'b1; end
            clocks(6);
        end
    endtask

    // The header CRC of tx[0..n-1] into tx[n], tx[n+1] (little-endian); bad flips a bit of it.
    task header_crc;
        input integer n;
        input bad;
        integer i;
        reg [15:0] c;
        begin
            c = 16'hFFFF;
            for (i = 0; i < n; i = i + 1) c = crc16_byte(c, tx[i]);
            if (bad) c = c ^ 16'h0001;
            tx[n] = c[7:0];
            tx[n + 1] = c[15:8];
        end
    endtask

    task expect;
        input [7:0] got, want;
        input [8*40-1:0] what;
        if (got !== want) begin
            $display("FAIL %0s: 0x%02h, expected 0x%02h", what, got, want);
            failures = failures + 1;
        end
    endtask

    // The response of a command with an h-byte header: CODE at h + 1, TAG, body of m bytes, CRC over them all.
    task expect_response;
        input integer h, m;
        input [7:0] tag;
        integer i;
        reg [15:0] c;
        begin
            expect(rx[h + 1], 8'd0, "response code");
            expect(rx[h + 2], tag, "response tag");
            c = 16'hFFFF;
            for (i = h + 1; i < h + 3 + m; i = i + 1) c = crc16_byte(c, rx[i]);
            expect(rx[h + 3 + m], c[7:0], "response CRC low");
            expect(rx[h + 4 + m], c[15:8], "response CRC high");
        end
    endtask

    integer i;
    initial begin
        clocks(8);
        // NOP: the power-up status (RESET set), then the last tag (0).
        for (i = 0; i < 64; i = i + 1) tx[i] = 8'd0;
        frame(2);
        expect(rx[0], 8'hB0, "power-up status");
        expect(rx[1], 8'h00, "last tag");

        // INFO, tag 7: magic, f_clk and SCLK as the parameters say.
        tx[0] = 8'h01; tx[1] = 8'd7; header_crc(2, 1'b0);
        for (i = 4; i < 64; i = i + 1) tx[i] = 8'd0;
        frame(4 + 5 + 32);
        expect_response(4, 32, 8'd7);
        expect(rx[7], "T", "magic 0"); expect(rx[8], "M", "magic 1"); expect(rx[9], "V", "magic 2"); expect(rx[10], "1", "magic 3");
        expect(rx[7 + 16], dut.FABRIC_KHZ[7:0], "f_clk 0"); expect(rx[7 + 17], dut.FABRIC_KHZ[15:8], "f_clk 1");
        expect(rx[7 + 24], dut.SCLK_KHZ[7:0], "SCLK 0"); expect(rx[7 + 25], dut.SCLK_KHZ[15:8], "SCLK 1");

        // INFO with a broken header CRC, tag 8: ERR and CRC_ERR in the next status; GET_ERR says HEADER_CRC by INFO, 8.
        tx[0] = 8'h01; tx[1] = 8'd8; header_crc(2, 1'b1);
        frame(4 + 5 + 32);
        tx[0] = 8'h02; tx[1] = 8'd9; header_crc(2, 1'b0);
        for (i = 4; i < 64; i = i + 1) tx[i] = 8'd0;
        frame(4 + 5 + 12);
        expect(rx[0], 8'hBC, "status after a header CRC error");
        expect(rx[1], 8'd7, "last tag (the good INFO)");
        expect_response(4, 12, 8'd9);
        expect(rx[7], 8'h01, "error code HEADER_CRC");
        expect(rx[8], 8'h01, "error opcode");
        expect(rx[9], 8'd8, "error tag");
        expect(rx[7 + 8], 8'd1, "CRC error count");

        // CLEAR_ERR, tag 10: ERR, CRC_ERR and RESET clear; the tag becomes the last tag.
        tx[0] = 8'h7E; tx[1] = 8'd10; header_crc(2, 1'b0);
        frame(4);
        tx[0] = 8'h00;
        frame(2);
        expect(rx[0], 8'hA0, "status after CLEAR_ERR");
        expect(rx[1], 8'd10, "last tag after CLEAR_ERR");

        if (failures == 0) $display("PASS tmv_core_tb");
        else $display("FAILED tmv_core_tb: %0d checks", failures);
        $finish;
    end
endmodule

`default_nettype wire
