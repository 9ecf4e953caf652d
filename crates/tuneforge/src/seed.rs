//! Deterministic seed derivation: a study seed yields per-trial and per-parameter seeds that are
//! stable across runs, processes and platforms (SplitMix64 mixing, FNV-1a for names).

/// Mixes two 64-bit values into a well-spread seed (SplitMix64 finaliser over `a ^ rotl(b)`).
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable 64-bit hash of a name (FNV-1a), independent of the Rust version.
pub fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The seed handed to trial `number` of a study seeded with `study_seed`.
pub fn trial_seed(study_seed: u64, number: u64) -> u64 {
    // Kept below 2^31 so every language's RNG accepts it as given.
    mix(study_seed, number.wrapping_add(1)) & 0x7FFF_FFFF
}

/// The seed trial `t` of study `study` ran with: recorded on the trial, or derived from the
/// study seed and the trial number (which is how it was chosen).
pub fn recorded_trial_seed(
    study: &crate::record::StudyRecord,
    t: &crate::record::FrozenTrial,
) -> Option<u64> {
    t.system_attrs
        .get(crate::attrs::SEED)
        .and_then(|v| v.as_u64())
        .or_else(|| {
            study
                .attrs
                .get(crate::attrs::STUDY_SEED)
                .and_then(|v| v.as_u64())
                .map(|s| trial_seed(s, t.number))
        })
}

/// A seed for a study that names none: different on every call.
pub fn fresh_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    mix(t, std::process::id() as u64) & 0x7FFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_stable_and_distinct() {
        assert_eq!(trial_seed(42, 0), trial_seed(42, 0));
        let seeds: std::collections::HashSet<u64> = (0..1000).map(|n| trial_seed(42, n)).collect();
        assert_eq!(seeds.len(), 1000);
        assert_ne!(trial_seed(42, 3), trial_seed(43, 3));
        assert_eq!(name_hash("lr"), name_hash("lr"));
        assert_ne!(name_hash("lr"), name_hash("rl"));
    }
}
