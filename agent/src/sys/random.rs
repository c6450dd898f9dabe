//! Randomness from the kernel (getrandom(2)).

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    // SAFETY: getrandom(2) fills at most `n` bytes of a valid buffer.
    unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), n, 0) };
    bytes
}
