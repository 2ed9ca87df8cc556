require("./standin.js")("cache-save");
