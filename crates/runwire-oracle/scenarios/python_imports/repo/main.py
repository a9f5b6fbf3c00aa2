import os

from gen.helper import VALUE

os.makedirs("out", exist_ok=True)
with open("out/r.txt", "w") as f:
    f.write(VALUE + "\n")
print("wrote", VALUE)
