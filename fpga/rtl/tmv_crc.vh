// CRC functions shared by the frame logic and the commit check (included inside modules).

// CRC-16/CCITT-FALSE, one byte: polynomial 0x1021, MSB first (init 0xFFFF, no final XOR: the caller's job).
function [15:0] crc16_byte;
    input [15:0] crc;
    input [7:0]  data;
    integer b;
    reg [15:0] c;
    begin
        c = crc ^ {data, 8'h00};
        for (b = 0; b < 8; b = b + 1)
            c = c[15] ? {c[14:0], 1'b0} ^ 16'h1021 : {c[14:0], 1'b0};
        crc16_byte = c;
    end
endfunction

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), one byte, LSB first (init and final XOR: the caller's job).
function [31:0] crc32_byte;
    input [31:0] crc;
    input [7:0]  data;
    integer b;
    reg [31:0] c;
    begin
        c = crc ^ {24'd0, data};
        for (b = 0; b < 8; b = b + 1)
            c = c[0] ? {1'b0, c[31:1]} ^ 32'hEDB88320 : {1'b0, c[31:1]};
        crc32_byte = c;
    end
endfunction
