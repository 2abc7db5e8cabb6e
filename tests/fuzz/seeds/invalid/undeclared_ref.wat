(module (func $f) (func (drop (ref.func $f))))
