// Every value the e2e test looks for in the bundle, each behind a marker.
const env = import.meta.env;
document.querySelector('#app').textContent = [
  `API=[${env.VITE_API_URL}]`,
  `VITE_X=[${env.VITE_X}]`,
  `MYAPP_X=[${env.MYAPP_X}]`,
  `MODE=[${env.MODE}]`,
  `DEV=[${env.DEV}]`,
].join(' ');
