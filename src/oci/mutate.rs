//! Mutated inputs for the parsers' "never panics" tests, which do with plain `cargo test`
//! what the fuzz targets (fuzz/) do with coverage guidance on nightly: every truncation of a
//! seed from either end, and every byte replaced by, or preceded by, each of `specials`.

/// Calls `check` with each mutation of each seed; returns how many there were.
pub(crate) fn each_mutation(
    seeds: &[&[u8]],
    specials: &[u8],
    mut check: impl FnMut(&[u8]),
) -> usize {
    let mut count = 0;
    for seed in seeds {
        for cut in 0..=seed.len() {
            check(&seed[..cut]);
            check(&seed[cut..]);
            count += 2;
        }
        for i in 0..seed.len() {
            for &b in specials {
                let mut m = seed.to_vec();
                m[i] = b;
                check(&m);
                m.insert(i, b);
                check(&m);
                count += 2;
            }
        }
    }
    count
}
