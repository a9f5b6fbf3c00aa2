export default [{ files: ["src/**/*.js"], rules: { "no-var": "warn", "prefer-const": "warn" } }];
