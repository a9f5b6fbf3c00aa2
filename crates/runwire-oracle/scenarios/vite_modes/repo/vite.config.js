export default { envPrefix: ['VITE_', 'APP_'], build: { outDir: 'web-dist' } };
