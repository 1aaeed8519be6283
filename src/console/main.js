// The console's one entry (scripts/console-build.ts bundles it into src/console/built/). api.js
// first: at evaluation it asks the session and the page's first calls, answered while the rest evaluates.
import './api.js';
import './app.js';
