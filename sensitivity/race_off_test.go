//go:build !race

package sensitivity

// raceEnabled reports whether the race detector is on (tests shrink or skip
// work that is ten times slower under it).
const raceEnabled = false
