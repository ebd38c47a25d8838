// Loaded before the page's modules: a browser started with a POSIX locale (LANG=C on a
// kiosk gives "en-US@posix") reports a language Intl refuses, and uPlot builds a number
// format from it as it loads. Such a browser gets "en-US" instead; others are left alone.
try {
  new Intl.NumberFormat(navigator.language);
} catch {
  Object.defineProperty(navigator, "language", { value: "en-US", configurable: true });
}
export {};
