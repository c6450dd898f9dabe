//! A tiny x86_64 assembler for the synthetic guests: only what they use.

#[derive(Default)]
pub struct Asm {
    pub code: Vec<u8>,
    spin_fixup: Option<usize>,
    /// Positions of rel32 jumps to the failure path, patched by `fail_target`.
    fail_fixups: Vec<usize>,
}

impl Asm {
    fn emit(&mut self, bytes: &[u8]) {
        self.code.extend_from_slice(bytes);
    }

    /// mov dx, port
    pub fn mov_dx(&mut self, port: u16) {
        let [lo, hi] = port.to_le_bytes();
        self.emit(&[0x66, 0xba, lo, hi]);
    }

    /// mov al, value ; out dx, al
    pub fn out_al(&mut self, value: u8) {
        self.emit(&[0xb0, value, 0xee]);
    }

    pub fn serial_str(&mut self, s: &str) {
        self.mov_dx(0x3f8);
        for b in s.bytes() {
            self.out_al(b);
        }
    }

    /// Writes `base + rdi` (the vCPU index) to the serial port.
    pub fn serial_char_plus_rdi(&mut self, base: u8) {
        self.mov_dx(0x3f8);
        self.emit(&[0xb0, base]); // mov al, base
        self.emit(&[0x40, 0x00, 0xf8]); // add al, dil
        self.emit(&[0xee]); // out dx, al
    }

    pub fn i8042_reset(&mut self) {
        self.mov_dx(0x64);
        self.out_al(0xfe);
        // If the reset is ignored, spin rather than run off the end.
        self.emit(&[0xeb, 0xfe]);
    }

    /// lock inc dword [addr]
    pub fn lock_inc_abs(&mut self, addr: u32) {
        self.emit(&[0xf0, 0xff, 0x04, 0x25]);
        self.emit(&addr.to_le_bytes());
    }

    /// test edi, edi ; jnz <spin target> (patched by `spin_target`)
    pub fn jnz_rdi_to_spin(&mut self) {
        self.emit(&[0x85, 0xff, 0x0f, 0x85, 0, 0, 0, 0]);
        self.spin_fixup = Some(self.code.len());
    }

    /// Loops until dword [addr] >= n.
    pub fn wait_abs_at_least(&mut self, addr: u32, n: u8) {
        let top = self.code.len();
        self.emit(&[0xf3, 0x90]); // pause
        self.emit(&[0x8b, 0x04, 0x25]); // mov eax, [addr]
        self.emit(&addr.to_le_bytes());
        self.emit(&[0x83, 0xf8, n]); // cmp eax, n
        let rel = top as i64 - (self.code.len() as i64 + 2);
        self.emit(&[0x72, rel as i8 as u8]); // jb top
    }

    /// The spin loop other vCPUs park in: pause; jmp back.
    pub fn spin_target(&mut self) {
        let here = self.code.len();
        if let Some(after_jnz) = self.spin_fixup.take() {
            let rel = (here as i64 - after_jnz as i64) as i32;
            self.code[after_jnz - 4..after_jnz].copy_from_slice(&rel.to_le_bytes());
        }
        self.emit(&[0xf3, 0x90, 0xeb, 0xfc]);
    }

    /// mov rbx, value
    pub fn mov_rbx(&mut self, value: u64) {
        self.emit(&[0x48, 0xbb]);
        self.emit(&value.to_le_bytes());
    }

    /// mov dword [rbx+offset], value
    pub fn write32_rbx(&mut self, offset: u32, value: u32) {
        self.emit(&[0xc7, 0x83]);
        self.emit(&offset.to_le_bytes());
        self.emit(&value.to_le_bytes());
    }

    fn jne_fail(&mut self) {
        self.emit(&[0x0f, 0x85, 0, 0, 0, 0]);
        self.fail_fixups.push(self.code.len());
    }

    /// Fails unless dword [rbx+offset] == value.
    pub fn expect32_rbx(&mut self, offset: u32, value: u32) {
        self.emit(&[0x8b, 0x83]); // mov eax, [rbx+offset]
        self.emit(&offset.to_le_bytes());
        self.emit(&[0x3d]); // cmp eax, value
        self.emit(&value.to_le_bytes());
        self.jne_fail();
    }

    /// mov word [addr], value
    pub fn write16_abs(&mut self, addr: u32, value: u16) {
        self.emit(&[0x66, 0xc7, 0x04, 0x25]);
        self.emit(&addr.to_le_bytes());
        self.emit(&value.to_le_bytes());
    }

    /// Fails unless word [addr] == value.
    pub fn expect16_abs(&mut self, addr: u32, value: u16) {
        self.emit(&[0x66, 0x81, 0x3c, 0x25]);
        self.emit(&addr.to_le_bytes());
        self.emit(&value.to_le_bytes());
        self.jne_fail();
    }

    /// Loops until word [addr] >= n.
    pub fn wait16_abs_at_least(&mut self, addr: u32, n: u8) {
        let top = self.code.len();
        self.emit(&[0xf3, 0x90]); // pause
        self.emit(&[0x0f, 0xb7, 0x04, 0x25]); // movzx eax, word [addr]
        self.emit(&addr.to_le_bytes());
        self.emit(&[0x83, 0xf8, n]); // cmp eax, n
        let rel = top as i64 - (self.code.len() as i64 + 2);
        self.emit(&[0x72, rel as i8 as u8]); // jb top
    }

    /// Copies `len` bytes at `addr` to the serial port.
    pub fn serial_from_mem(&mut self, addr: u32, len: u32) {
        self.emit(&[0xbe]); // mov esi, addr
        self.emit(&addr.to_le_bytes());
        self.emit(&[0xb9]); // mov ecx, len
        self.emit(&len.to_le_bytes());
        self.mov_dx(0x3f8);
        self.emit(&[0xac, 0xee, 0xe2, 0xfc]); // lodsb; out dx, al; loop
    }

    /// The failure path: prints "FAIL" and resets. Patches every jump to it.
    pub fn fail_target(&mut self) {
        let here = self.code.len();
        for after in std::mem::take(&mut self.fail_fixups) {
            let rel = (here as i64 - after as i64) as i32;
            self.code[after - 4..after].copy_from_slice(&rel.to_le_bytes());
        }
        self.serial_str("FAIL");
        self.i8042_reset();
    }
}
