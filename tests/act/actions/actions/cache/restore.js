require("./standin.js")("cache-restore");
