document.body.textContent = `${import.meta.env.VITE_API_URL} ${import.meta.env.APP_FLAG} ${import.meta.env.VITE_NOTE}`;
