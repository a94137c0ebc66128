// apigw console: the resource pages beside the plug-ins (apps and their authorisations, load
// balance channels, certificates and domains, policies). Uses app.js's helpers (el, api,
// field, select, showError, say, route, page).
"use strict";
