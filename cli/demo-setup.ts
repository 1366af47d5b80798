// The three-guest demo's machine, shared by `tmemvm demo` and the browser page (web/), which
// runs the same guests with the same arguments: nothing here needs Node.

export const DEMO_GUESTS = [
  { name: "light", weight: 1 },
  { name: "medium", weight: 2 },
  { name: "heavy", weight: 4 },
] as const;
export const DEMO_FILE_PAGES = 1200;
export const DEMO_CACHE_FRAMES = 64;
export const DEMO_PASSES = 6;
export const DEMO_TMEM_MIB = 2;
export const DEMO_RAM_MIB = 4;
/** One chart point per guest every this many hypercalls (all guests together). */
export const DEMO_SAMPLE_EVERY = 1500;

/** precache's arguments for the demo guest of weight `weight`, under scheduler seed `seed`. */
export const demoArgs = (seed: number, weight: number): string[] => [
  String(DEMO_FILE_PAGES),
  String(DEMO_CACHE_FRAMES),
  String(DEMO_PASSES),
  "random",
  String(seed + weight),
];

/** The demo as a machine spec (unchecked: the builder's check takes it as any other), `image` naming precache. */
export const demoSpec = (seed: number, image = "precache") => ({
  tmemMiB: DEMO_TMEM_MIB,
  seed,
  guests: DEMO_GUESTS.map((g) => ({ image, name: g.name, weight: g.weight, ramMiB: DEMO_RAM_MIB, args: demoArgs(seed, g.weight) })),
});
